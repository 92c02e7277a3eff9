// A SentencePiece-style tokenizer.json (what TokenizerLoader.isSentencePieceStyle recognises) as the
// `tokenizer.ggml.*` vocabulary of a GGUF `llama` tokenizer, the inverse of SentencePieceTokenizerFiles and
// what llama.cpp's converter writes (_set_vocab_sentencepiece, _set_vocab_llama_hf): the pieces in id order,
// a score and one of llama.cpp's token types (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5,
// BYTE 6) per piece; an id the file does not name is "[PAD<id>]", UNUSED, as the converter pads.
//
// Scores. A Unigram file carries them. A BPE file does not: llama.cpp's LlamaHfVocab writes -1000 for every
// piece, and then llama.cpp's tokenizer (merge the adjacent pair whose merged piece scores highest, the
// leftmost on ties) merges left to right instead of by the file's merges. So a BPE piece's score here is
// minus the rank of the first merge that makes it: the highest-scoring pair is then the lowest-ranked merge,
// which is how tokenizers applies the merges (and for files transformers' LlamaConverter wrote, whose
// merges are every split of a piece ordered by its SentencePiece score, the original order of the scores).
// Pieces no merge makes never win a pair; normal ones score below every merged piece, the rest 0.
import Foundation
import Checkpoints

public enum SentencePieceGGUFVocabulary {
    /// tokenizer.ggml.model … token_type and add_space_prefix for `folder`'s tokenizer.json (read as the loader
    /// reads it: JSONSerialization would drop a piece's U+FEFF), padded to `size` ids; `tokenizer` is the
    /// folder's tokenizer as loaded (for whether it prefixes "▁").
    public static func metadata(folder: String, tokenizer: Tokenizer, size: Int) throws -> [(String, GGUFValue)] {
        let path = (folder as NSString).appendingPathComponent("tokenizer.json")
        let json = try HuggingFaceTokenizerFile.readJSONObject(path)
        // The BPE vocabulary member by member, so both of two canonically equivalent pieces keep their ids.
        let members = (json["model"] as? [String: Any])?["vocab"] is [String: Any] ? HuggingFaceSentencePieceFile.vocabularyMembers(path: path) : nil
        let v = try vocabulary(json, members: members, size: size, path: path)
        let addsSpacePrefix = (tokenizer as? SpacePrefixing)?.addsSpacePrefix ?? true
        return [
            ("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .array(v.tokens.map { .string($0) })),
            ("tokenizer.ggml.scores", .array(v.scores.map { .float32($0) })),
            ("tokenizer.ggml.token_type", .array(v.types.map { .int32(Int32($0.rawValue)) })),
            ("tokenizer.ggml.add_space_prefix", .bool(addsSpacePrefix)),
        ]
    }

    struct Vocabulary {
        var tokens: [String]
        var scores: [Float]
        var types: [SentencePieceTokenizer.TokenType]
    }

    /// `members`: a BPE vocabulary's entries as written (else its dictionary in `json` is used).
    static func vocabulary(_ json: [String: Any], members: [(String, Any)]? = nil, size: Int, path: String) throws -> Vocabulary {
        let model = json["model"] as? [String: Any] ?? [:]
        let isUnigram = (model["type"] as? String) == "Unigram"
        var byID: [Int: String] = [:]
        var unigramScores: [Int: Float] = [:]
        var unknownID: Int?
        if isUnigram {
            for (id, entry) in try HuggingFaceSentencePieceFile.unigramPieces(model, path: path).enumerated() {
                byID[id] = entry.piece
                unigramScores[id] = entry.score
            }
            unknownID = jsonInt(model["unk_id"])
        } else {
            guard let vocab = model["vocab"] as? [String: Any] else {
                throw TokenizerError.malformedJSON(path: path, reason: "BPE model without a 'vocab' object")
            }
            for (token, value) in members ?? Array(vocab) {
                byID[try HuggingFaceTokenizerFile.tokenID(value, "vocab entry '\(token)'", path: path)] = token
            }
            if let unk = model["unk_token"] as? String { unknownID = jsonInt(vocab[unk]) }
        }
        var added: [Int: Bool] = [:]   // id → special
        for (token, isSpecial) in try HuggingFaceTokenizerFile.addedTokens(json, path: path) {
            byID[token.id] = token.content
            added[token.id] = isSpecial
        }
        let count = max(size, (byID.keys.max() ?? -1) + 1)

        // Each BPE piece's first merge rank, pieces keyed by bytes (String equality would merge canonically
        // equal pieces) and a piece held twice by its lower id, as the tokenizer.json loader keys them.
        var firstMerge: [Int: Int] = [:]
        var mergeCount = 0
        if !isUnigram {
            var ids: [[UInt8]: Int] = [:]
            for (id, t) in byID where ids[Array(t.utf8)].map({ id < $0 }) ?? true { ids[Array(t.utf8)] = id }
            let merges = try HuggingFaceSentencePieceFile.merges(model, path: path)
            mergeCount = merges.count
            for (rank, (left, right)) in merges.enumerated() {
                guard ids[Array(left.utf8)] != nil, ids[Array(right.utf8)] != nil,
                      let merged = ids[Array((left + right).utf8)], firstMerge[merged] == nil else { continue }
                firstMerge[merged] = rank
            }
        }

        var v = Vocabulary(tokens: [], scores: [], types: [])
        v.tokens.reserveCapacity(count); v.scores.reserveCapacity(count); v.types.reserveCapacity(count)
        for id in 0..<count {
            guard let token = byID[id] else {
                v.tokens.append("[PAD\(id)]"); v.scores.append(-10000); v.types.append(.unused)
                continue
            }
            let type: SentencePieceTokenizer.TokenType
            if id == unknownID { type = .unknown }
            else if let special = added[id] { type = special ? .control : .userDefined }
            else if SentencePieceTokenizer.byteValue(token) != nil { type = .byte }
            else { type = .normal }
            let score: Float
            if isUnigram { score = unigramScores[id] ?? 0 }
            else if let rank = firstMerge[id] { score = -Float(rank) }
            else { score = type == .normal ? -Float(mergeCount + id) : 0 }
            v.tokens.append(token); v.scores.append(score); v.types.append(type)
        }
        return v
    }
}
