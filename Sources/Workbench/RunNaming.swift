// Names that commands and the quickstart generate for runs and their checkpoint folders:
// `PREFIX-YYYYMMDD-HHMMSS`, with -2, -3, ... when a run or a checkpoint folder of that name exists
// (two runs started within the same second).
import Foundation
import RunStore

public enum RunNaming {
    /// `PREFIX-YYYYMMDD-HHMMSS` in local time.
    public static func stamped(_ prefix: String, at date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "\(prefix)-\(f.string(from: date))"
    }

    /// `stamped(prefix)`, skipping names taken by a run in `store` or by a folder in WORKSPACE/checkpoints.
    public static func unused(_ prefix: String, store: RunStore?, workspace: URL) throws -> String {
        let name = stamped(prefix)
        var candidate = name, n = 1
        while try FileManager.default.fileExists(atPath: workspace.appendingPathComponent("checkpoints/\(candidate)").path)
                || store?.run(named: candidate) != nil {
            n += 1
            candidate = "\(name)-\(n)"
        }
        return candidate
    }

    /// `unused` for a workspace whose store may not exist yet (it is read only when it does).
    public static func unused(_ prefix: String, workspace: URL) throws -> String {
        let hasStore = FileManager.default.fileExists(atPath: workspace.appendingPathComponent(RunStore.databaseFileName).path)
        return try unused(prefix, store: hasStore ? try RunStore.open(workspace: workspace) : nil, workspace: workspace)
    }

    /// A short tag of a checkpoint's weights (their modification time), so evals of a retrained model get new runs.
    /// `checkpoint` is a folder holding `weights`, or the weights file itself (a GGUF).
    public static func stamp(of checkpoint: String, weights: String = "model.safetensors") -> String {
        var isDirectory: ObjCBool = false
        let isFolder = FileManager.default.fileExists(atPath: checkpoint, isDirectory: &isDirectory) && isDirectory.boolValue
        let file = isFolder ? (checkpoint as NSString).appendingPathComponent(weights) : checkpoint
        let attributes = try? FileManager.default.attributesOfItem(atPath: file)
        let date = attributes?[.modificationDate] as? Date ?? Date()
        return String(Int(date.timeIntervalSince1970))
    }
}
