// Encode speed on a few hundred KB of mixed English, Japanese and code. Printed, not asserted.
import Foundation
import XCTest
import Tokenizers
import TestSupport

final class EncodeThroughputTests: XCTestCase {
    func testPrintEncodeThroughputOnMixedText() throws {
        // Real text where available (XWinograd English and Japanese JSONL as they are: prose, keys,
        // punctuation), else a synthetic mix; words repeat less in the real text, so caching helps less.
        var text = ""
        for (file, bytes) in [("xwinograd/xwinograd_en.jsonl", 200_000), ("xwinograd/xwinograd_jp.jsonl", 150_000)] {
            if let data = try? Data(contentsOf: Fixtures.data(file)) {
                text += String(decoding: data.prefix(bytes), as: UTF8.self)
            }
        }
        let paragraphs = [
            "The quick brown fox jumps over the lazy dog. Permission is hereby granted, free of charge, to any person obtaining a copy.\n",
            "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。\n",
            "func add(_ a: Int, _ b: Int) -> Int {\n    return a + b  // 2つの数を足します\n}\n\n",
            "In 2024, prices rose 3.5% to $1,234.56; see https://example.com/path?q=1&r=2 for details!!\n",
        ]
        var i = 0
        while text.utf8.count < 300_000 {
            text += paragraphs[i % paragraphs.count] + "(\(i)) "
            i += 1
        }
        let megabytes = Double(text.utf8.count) / 1_000_000
        let tokenizers: [(String, Tokenizer)] = [
            ("gpt-neox (GGUF)", try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-gpt-neox.gguf"))),
            ("gpt-2 (GGUF)", try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-gpt-2.gguf"))),
            ("stablelm-tiny (tokenizer.json, NFC)", try TokenizerFixtures.huggingFace("stablelm-tiny")),
            ("llama-spm (GGUF)", try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))),
        ]
        for (name, tokenizer) in tokenizers {
            _ = tokenizer.encode(String(text.prefix(2000)), addSpecialTokens: false)
            for pass in ["cold", "warm"] {
                let start = Date()
                let ids = tokenizer.encode(text, addSpecialTokens: false)
                let seconds = Date().timeIntervalSince(start)
                print(String(format: "encode throughput %@ %@: %.2f MB/s (%d bytes → %d tokens in %.3f s)",
                             name, pass, megabytes / seconds, text.utf8.count, ids.count, seconds))
            }
        }
    }
}
