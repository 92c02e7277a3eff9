// The one answer to "where do hayai's files go": the workspace is --home, else $HAYAI_HOME, else
// ./hayai-runs; outputs a command writes by default (corpus, tokenizer, checkpoints, saved chats) go
// under it.
import Foundation
import RunStore

public enum Workspace {
    /// The workspace folder for an optional --home.
    public static func url(home: String? = nil) -> URL {
        home.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? RunStore.defaultWorkspace
    }

    /// `relative` inside the workspace (e.g. "corpus", "tokenizer", "chats/NAME.json").
    public static func path(_ relative: String, home: String? = nil) -> String {
        url(home: home).appendingPathComponent(relative).path
    }
}
