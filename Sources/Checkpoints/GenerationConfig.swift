// generation_config.json as transformers writes it: sampling defaults and the special token ids a
// model was trained with (eos may be one id or several). Property names are Hugging Face's own.
import Foundation

public struct GenerationConfig: Codable, Sendable, Equatable {
    public var do_sample: Bool?
    public var temperature: Double?
    public var top_k: Int?
    public var top_p: Double?
    public var min_p: Double?
    public var repetition_penalty: Double?
    public var max_new_tokens: Int?
    public var max_length: Int?
    public var bos_token_id: Int?
    public var eos_token_id: HFConfig.IntOrList?
    public var pad_token_id: Int?

    public init(do_sample: Bool? = nil, temperature: Double? = nil, top_k: Int? = nil, top_p: Double? = nil, min_p: Double? = nil,
                repetition_penalty: Double? = nil, max_new_tokens: Int? = nil, max_length: Int? = nil,
                bos_token_id: Int? = nil, eos_token_id: [Int]? = nil, pad_token_id: Int? = nil) {
        self.do_sample = do_sample; self.temperature = temperature; self.top_k = top_k; self.top_p = top_p
        self.min_p = min_p; self.repetition_penalty = repetition_penalty; self.max_new_tokens = max_new_tokens
        self.max_length = max_length; self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id.map(HFConfig.IntOrList.init); self.pad_token_id = pad_token_id
    }

    /// Every end-of-sequence id (empty when none is given).
    public var eosTokenIDs: [Int] { eos_token_id?.values ?? [] }

    /// Checks the values are in range; `path` names the file in the error.
    public func validate(path: String) throws {
        func fail(_ what: String) -> CheckpointError { .invalidConfig(path: path, what: what) }
        if let t = temperature, !(t >= 0 && t.isFinite) { throw fail("temperature \(t) must be a finite number >= 0") }
        if let k = top_k, k < 0 { throw fail("top_k \(k) must be >= 0") }
        if let p = top_p, !(p > 0 && p <= 1) { throw fail("top_p \(p) must be in (0, 1]") }
        if let p = min_p, !(p >= 0 && p <= 1) { throw fail("min_p \(p) must be in [0, 1]") }
        if let r = repetition_penalty, !(r > 0 && r.isFinite) { throw fail("repetition_penalty \(r) must be a finite number > 0") }
        if let n = max_new_tokens, n < 0 { throw fail("max_new_tokens \(n) must be >= 0") }
        if let n = max_length, n < 0 { throw fail("max_length \(n) must be >= 0") }
        for (key, id) in [("bos_token_id", bos_token_id), ("pad_token_id", pad_token_id)] {
            if let id, id < 0 { throw fail("\(key) \(id) must be >= 0") }
        }
        if let bad = eosTokenIDs.first(where: { $0 < 0 }) { throw fail("eos_token_id \(bad) must be >= 0") }
    }

    public static func load(path: String) throws -> GenerationConfig {
        let config = try decodeJSON(GenerationConfig.self, from: readConfigFile(path), path: path)
        try config.validate(path: path)
        return config
    }
}
