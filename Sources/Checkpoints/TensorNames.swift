// The one table from a weight's role in the decoder to its tensor name in a Hugging Face
// checkpoint (per architecture) and in a GGUF file (llama.cpp's names).

public enum WeightRole: String, CaseIterable, Sendable {
    // Model-level
    case tokenEmbedding, finalNormWeight, finalNormBias, output
    // Per layer
    case attnNormWeight, attnNormBias
    case q, qBias, k, kBias, v, vBias, qkv, qkvBias, o, oBias
    case qNorm, kNorm
    case mlpNormWeight, mlpNormBias
    case gate, up, upBias, down, downBias

    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .finalNormWeight, .finalNormBias, .output: return false
        default: return true
        }
    }

    public func ggufName(layer: Int = 0) -> String {
        let b = "blk.\(layer)."
        switch self {
        case .tokenEmbedding: return "token_embd.weight"
        case .finalNormWeight: return "output_norm.weight"
        case .finalNormBias: return "output_norm.bias"
        case .output: return "output.weight"
        case .attnNormWeight: return b + "attn_norm.weight"
        case .attnNormBias: return b + "attn_norm.bias"
        case .q: return b + "attn_q.weight"
        case .qBias: return b + "attn_q.bias"
        case .k: return b + "attn_k.weight"
        case .kBias: return b + "attn_k.bias"
        case .v: return b + "attn_v.weight"
        case .vBias: return b + "attn_v.bias"
        case .qkv: return b + "attn_qkv.weight"
        case .qkvBias: return b + "attn_qkv.bias"
        case .o: return b + "attn_output.weight"
        case .oBias: return b + "attn_output.bias"
        case .qNorm: return b + "attn_q_norm.weight"
        case .kNorm: return b + "attn_k_norm.weight"
        case .mlpNormWeight: return b + "ffn_norm.weight"
        case .mlpNormBias: return b + "ffn_norm.bias"
        case .gate: return b + "ffn_gate.weight"
        case .up: return b + "ffn_up.weight"
        case .upBias: return b + "ffn_up.bias"
        case .down: return b + "ffn_down.weight"
        case .downBias: return b + "ffn_down.bias"
        }
    }

    /// The Hugging Face name. Per-head q/k norms are stored by HF as one tensor per head
    /// (`...q_layernorm.norms.H.weight`); this returns the prefix `...q_layernorm.norms.` for them.
    public func hfName(_ arch: Architecture, layer: Int = 0) -> String {
        if arch == .gptNeoX {
            let b = "gpt_neox.layers.\(layer)."
            switch self {
            case .tokenEmbedding: return "gpt_neox.embed_in.weight"
            case .finalNormWeight: return "gpt_neox.final_layer_norm.weight"
            case .finalNormBias: return "gpt_neox.final_layer_norm.bias"
            case .output: return "embed_out.weight"
            case .attnNormWeight: return b + "input_layernorm.weight"
            case .attnNormBias: return b + "input_layernorm.bias"
            case .qkv: return b + "attention.query_key_value.weight"
            case .qkvBias: return b + "attention.query_key_value.bias"
            case .o: return b + "attention.dense.weight"
            case .oBias: return b + "attention.dense.bias"
            case .mlpNormWeight: return b + "post_attention_layernorm.weight"
            case .mlpNormBias: return b + "post_attention_layernorm.bias"
            case .up: return b + "mlp.dense_h_to_4h.weight"
            case .upBias: return b + "mlp.dense_h_to_4h.bias"
            case .down: return b + "mlp.dense_4h_to_h.weight"
            case .downBias: return b + "mlp.dense_4h_to_h.bias"
            default: return b + "unused.\(rawValue)"
            }
        }
        let b = "model.layers.\(layer)."
        switch self {
        case .tokenEmbedding: return "model.embed_tokens.weight"
        case .finalNormWeight: return "model.norm.weight"
        case .finalNormBias: return "model.norm.bias"
        case .output: return "lm_head.weight"
        case .attnNormWeight: return b + "input_layernorm.weight"
        case .attnNormBias: return b + "input_layernorm.bias"
        case .q: return b + "self_attn.q_proj.weight"
        case .qBias: return b + "self_attn.q_proj.bias"
        case .k: return b + "self_attn.k_proj.weight"
        case .kBias: return b + "self_attn.k_proj.bias"
        case .v: return b + "self_attn.v_proj.weight"
        case .vBias: return b + "self_attn.v_proj.bias"
        case .qkv: return b + "self_attn.qkv_proj.weight"
        case .qkvBias: return b + "self_attn.qkv_proj.bias"
        case .o: return b + "self_attn.o_proj.weight"
        case .oBias: return b + "self_attn.o_proj.bias"
        case .qNorm: return b + "self_attn.q_layernorm.norms."
        case .kNorm: return b + "self_attn.k_layernorm.norms."
        case .mlpNormWeight: return b + "post_attention_layernorm.weight"
        case .mlpNormBias: return b + "post_attention_layernorm.bias"
        case .gate: return b + "mlp.gate_proj.weight"
        case .up: return b + "mlp.up_proj.weight"
        case .upBias: return b + "mlp.up_proj.bias"
        case .down: return b + "mlp.down_proj.weight"
        case .downBias: return b + "mlp.down_proj.bias"
        }
    }
}
