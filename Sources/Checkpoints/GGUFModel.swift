// Reading a decoder's description from GGUF metadata (llama.cpp's keys), resolved to the same
// ModelConfig a Hugging Face config.json gives.

extension GGUFFile {
    /// llama.cpp's architecture name for ours.
    public static func ggufArchitecture(_ arch: Architecture) -> String {
        switch arch {
        case .stablelm: return "stablelm"
        case .gptNeoX: return "gptneox"
        case .llama: return "llama"
        }
    }

    public func modelConfig() throws -> ModelConfig {
        let path = file.path
        guard let archValue = metadata["general.architecture"] else {
            throw CheckpointError.invalidConfig(path: path, what: "missing general.architecture")
        }
        guard let archName = archValue.stringValue else {
            throw CheckpointError.invalidConfig(path: path, what: "general.architecture is \(archValue), expected a string")
        }
        let arch: Architecture
        switch archName {
        case "stablelm": arch = .stablelm
        case "gptneox": arch = .gptNeoX
        case "llama", "mistral": arch = .llama
        default: throw CheckpointError.unknownArchitecture(path: path, name: archName)
        }
        // A key that is present with the wrong type is an error, not a silent default.
        func optionalInt(_ key: String) throws -> Int? {
            guard let value = metadata[key] else { return nil }
            guard let v = value.intValue else { throw CheckpointError.invalidConfig(path: path, what: "\(key) is \(value), expected an integer") }
            return v
        }
        func optionalFloat(_ key: String) throws -> Double? {
            guard let value = metadata[key] else { return nil }
            guard let v = value.floatValue else { throw CheckpointError.invalidConfig(path: path, what: "\(key) is \(value), expected a number") }
            return v
        }
        func need(_ key: String) throws -> Int {
            guard let v = try optionalInt("\(archName).\(key)") else { throw CheckpointError.invalidConfig(path: path, what: "missing \(archName).\(key)") }
            return v
        }
        func int(_ key: String) throws -> Int? { try optionalInt(key) }
        func float(_ key: String) throws -> Double? { try optionalFloat(key) }
        guard let embed = tensorInfos[WeightRole.tokenEmbedding.ggufName()] else {
            throw CheckpointError.missingTensor(path: path, name: WeightRole.tokenEmbedding.ggufName())
        }
        let hidden = try need("embedding_length")
        let heads = try need("attention.head_count")
        guard heads > 0 else { throw CheckpointError.invalidConfig(path: path, what: "\(archName).attention.head_count must be positive") }
        let kvHeads = try int("\(archName).attention.head_count_kv") ?? heads
        let headDim = try int("\(archName).attention.key_length") ?? hidden / heads
        let has = { (role: WeightRole) in self.tensorInfos[role.ggufName(layer: 0)] != nil }
        let eps = try float("\(archName).attention.layer_norm_rms_epsilon") ?? float("\(archName).attention.layer_norm_epsilon") ?? 1e-5
        let parallel: Bool
        switch arch {
        case .stablelm: parallel = bool("stablelm.use_parallel_residual") ?? !has(.mlpNormWeight)
        case .gptNeoX: parallel = bool("gptneox.use_parallel_residual") ?? true
        case .llama: parallel = false
        }
        var eos: [Int] = []
        if let e = try int("tokenizer.ggml.eos_token_id") { eos.append(e) }
        if let e = try int("tokenizer.ggml.eot_token_id"), !eos.contains(e) { eos.append(e) }
        var config = ModelConfig(
            architecture: arch,
            vocabSize: embed.shape[0],
            hiddenSize: hidden,
            intermediateSize: try need("feed_forward_length"),
            numLayers: try need("block_count"),
            numHeads: heads,
            numKVHeads: kvHeads,
            headDim: headDim,
            maxPositions: try int("\(archName).context_length") ?? 2048,
            norm: arch == .llama ? .rmsNorm : .layerNorm,
            normEps: Float(eps),
            rotaryDim: try int("\(archName).rope.dimension_count") ?? headDim,
            ropeTheta: Float(try float("\(archName).rope.freq_base") ?? 10000),
            ropeStyle: arch == .llama ? .adjacent : .halves,
            parallelResidual: parallel,
            qkvBias: has(.qBias) || has(.qkvBias),
            outputBias: has(.oBias),
            mlpBias: has(.upBias),
            qkNorm: has(.qNorm),
            mlp: arch == .gptNeoX ? .gelu : .gatedSiLU,
            fusedQKV: has(.qkv) ? .blocked : nil,
            tieWordEmbeddings: tensorInfos[WeightRole.output.ggufName()] == nil,
            bosTokenID: try int("tokenizer.ggml.bos_token_id"),
            eosTokenIDs: eos)
        config.ropeScaling = try ropeScaling(archName: archName)
        try config.validate(path: path)
        return config
    }

    /// llama.cpp's rope.scaling.type / factor (or the older rope.scale_linear); YaRN and LongRoPE are
    /// errors, not ignored. (Llama 3.1's scaling comes as a rope_freqs tensor, which hayai does not read.)
    private func ropeScaling(archName: String) throws -> RopeScaling {
        let key = "\(archName).rope.scaling.type", factorKey = "\(archName).rope.scaling.factor"
        func factor(_ key: String) throws -> Double? {
            guard let value = metadata[key] else { return nil }
            guard let v = value.floatValue else { throw CheckpointError.invalidConfig(path: file.path, what: "\(key) is \(value), expected a number") }
            return v
        }
        if tensorInfos["rope_freqs.weight"] != nil {
            throw CheckpointError.invalidConfig(path: file.path, what: "rope_freqs.weight (Llama 3.1 rope scaling in GGUF) is not supported")
        }
        guard let value = metadata[key] else {
            if let f = try factor("\(archName).rope.scale_linear"), f != 1 { return .linear(factor: f) }
            return .none
        }
        switch value.stringValue {
        case "none"?: return .none
        case "linear"?:
            guard let f = try factor(factorKey) else { throw CheckpointError.invalidConfig(path: file.path, what: "\(key) linear without \(factorKey)") }
            return .linear(factor: f)
        default:
            throw CheckpointError.invalidConfig(path: file.path, what: "\(key) \(value) is not supported (hayai implements none and linear in GGUF)")
        }
    }
}
