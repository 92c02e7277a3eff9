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
        guard let archName = string("general.architecture") else {
            throw CheckpointError.invalidConfig(path: path, what: "missing general.architecture")
        }
        let arch: Architecture
        switch archName {
        case "stablelm": arch = .stablelm
        case "gptneox": arch = .gptNeoX
        case "llama", "mistral": arch = .llama
        default: throw CheckpointError.unknownArchitecture(path: path, name: archName)
        }
        func need(_ key: String) throws -> Int {
            guard let v = int("\(archName).\(key)") else { throw CheckpointError.invalidConfig(path: path, what: "missing \(archName).\(key)") }
            return v
        }
        guard let embed = tensorInfos[WeightRole.tokenEmbedding.ggufName()] else {
            throw CheckpointError.missingTensor(path: path, name: WeightRole.tokenEmbedding.ggufName())
        }
        let hidden = try need("embedding_length")
        let heads = try need("attention.head_count")
        guard heads > 0 else { throw CheckpointError.invalidConfig(path: path, what: "\(archName).attention.head_count must be positive") }
        let kvHeads = int("\(archName).attention.head_count_kv") ?? heads
        let headDim = int("\(archName).attention.key_length") ?? hidden / heads
        let has = { (role: WeightRole) in self.tensorInfos[role.ggufName(layer: 0)] != nil }
        let eps = float("\(archName).attention.layer_norm_rms_epsilon") ?? float("\(archName).attention.layer_norm_epsilon") ?? 1e-5
        let parallel: Bool
        switch arch {
        case .stablelm: parallel = bool("stablelm.use_parallel_residual") ?? !has(.mlpNormWeight)
        case .gptNeoX: parallel = bool("gptneox.use_parallel_residual") ?? true
        case .llama: parallel = false
        }
        var eos: [Int] = []
        if let e = int("tokenizer.ggml.eos_token_id") { eos.append(e) }
        if let e = int("tokenizer.ggml.eot_token_id"), !eos.contains(e) { eos.append(e) }
        let config = ModelConfig(
            architecture: arch,
            vocabSize: embed.shape[0],
            hiddenSize: hidden,
            intermediateSize: try need("feed_forward_length"),
            numLayers: try need("block_count"),
            numHeads: heads,
            numKVHeads: kvHeads,
            headDim: headDim,
            maxPositions: int("\(archName).context_length") ?? 2048,
            norm: arch == .llama ? .rmsNorm : .layerNorm,
            normEps: Float(eps),
            rotaryDim: int("\(archName).rope.dimension_count") ?? headDim,
            ropeTheta: Float(float("\(archName).rope.freq_base") ?? 10000),
            ropeStyle: arch == .llama ? .adjacent : .halves,
            parallelResidual: parallel,
            qkvBias: has(.qBias) || has(.qkvBias),
            outputBias: has(.oBias),
            mlpBias: has(.upBias),
            qkNorm: has(.qNorm),
            mlp: arch == .gptNeoX ? .gelu : .gatedSiLU,
            fusedQKV: has(.qkv) ? .blocked : nil,
            tieWordEmbeddings: tensorInfos[WeightRole.output.ggufName()] == nil,
            bosTokenID: int("tokenizer.ggml.bos_token_id"),
            eosTokenIDs: eos)
        try config.validate(path: path)
        return config
    }
}
