// A PEFT LoRA adapter folder: adapter_config.json (peft_type LORA, r, lora_alpha, target_modules,
// base_model_name_or_path) and adapter_model.safetensors with PEFT's names,
// `base_model.model.<module>.lora_A.weight` (r, in) and `...lora_B.weight` (out, r). Reading checks
// every tensor against the base's plan, so an adapter for another base is a one-line error.
import Basics
import Foundation
import Checkpoints

public enum AdapterFolder {
    public static let configName = "adapter_config.json"
    public static let weightsName = "adapter_model.safetensors"

    /// PEFT's tensor name of a target's A or B matrix in one layer.
    public static func tensorName(_ target: LoRATarget, layer: Int, arch: Architecture, part: String) -> String {
        let full = target.role.hfName(arch, layer: layer)
        return "base_model.model." + full.dropLast(".weight".count) + ".lora_\(part).weight"
    }

    /// adapter_config.json as PEFT writes it (the entries that matter for loading, and the usual defaults).
    public static func configJSON(_ settings: LoRASettings, arch: Architecture, base: String) -> [String: Any] {
        ["peft_type": "LORA", "task_type": "CAUSAL_LM", "r": settings.rank, "lora_alpha": settings.alpha, "lora_dropout": settings.dropout,
         "target_modules": settings.targets.map { $0.moduleName(arch) }, "base_model_name_or_path": base, "bias": "none",
         "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true, "use_rslora": false, "use_dora": false,
         "modules_to_save": NSNull(), "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](), "revision": NSNull()]
    }

    /// The settings and the base named in a folder's adapter_config.json.
    public static func readConfig(_ dir: String, arch: Architecture) throws -> (settings: LoRASettings, base: String?) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InferenceError.badAdapter(path: dir, what: "no such adapter folder")
        }
        let path = (dir as NSString).appendingPathComponent(configName)
        guard let data = FileManager.default.contents(atPath: path) else { throw InferenceError.badAdapter(path: path, what: "missing") }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw InferenceError.badAdapter(path: path, what: "not a JSON object")
        }
        guard (json["peft_type"] as? String)?.uppercased() == "LORA" else {
            throw InferenceError.badAdapter(path: path, what: "peft_type is \(json["peft_type"].map { "\($0)" } ?? "missing"), expected LORA")
        }
        guard let rank = json["r"] as? Int, rank > 0 else { throw InferenceError.badAdapter(path: path, what: "r is missing or not a positive integer") }
        let alpha = (json["lora_alpha"] as? NSNumber)?.doubleValue ?? 8
        let dropout = (json["lora_dropout"] as? NSNumber)?.doubleValue ?? 0
        for (key, unsupported) in [("use_dora", true), ("fan_in_fan_out", true), ("use_rslora", true)] where json[key] as? Bool == unsupported {
            throw InferenceError.badAdapter(path: path, what: "\(key) is not supported")
        }
        if let bias = json["bias"] as? String, bias != "none" { throw InferenceError.badAdapter(path: path, what: "bias '\(bias)' is not supported (only none)") }
        for key in ["rank_pattern", "alpha_pattern"] where !((json[key] as? [String: Any])?.isEmpty ?? true) {
            throw InferenceError.badAdapter(path: path, what: "\(key) is not supported")
        }
        let modules: [String]
        if let list = json["target_modules"] as? [String] { modules = list } else if let one = json["target_modules"] as? String { modules = [one] } else {
            throw InferenceError.badAdapter(path: path, what: "target_modules is missing")
        }
        let targets = try modules.map { name -> LoRATarget in
            guard let t = LoRATarget.allCases.first(where: { $0.moduleName(arch) == name }) else {
                throw InferenceError.badAdapter(path: path, what: "target module '\(name)' is not a linear layer of a \(arch.rawValue) model")
            }
            return t
        }
        return (LoRASettings(rank: rank, alpha: alpha, targets: targets, dropout: dropout), json["base_model_name_or_path"] as? String)
    }

    /// The adapters of `dir` for a model of `plan`, by (role, layer). Every tensor must be one the plan
    /// expects, with the shape the base's matrix implies.
    public static func load(_ dir: String, plan: DecoderPlan) throws -> (settings: LoRASettings, adapters: [WeightKey: LoRAAdapter]) {
        let arch = plan.config.architecture
        let (settings, _) = try readConfig(dir, arch: arch)
        let weightsPath = (dir as NSString).appendingPathComponent(weightsName)
        guard FileManager.default.fileExists(atPath: weightsPath) else { throw InferenceError.badAdapter(path: weightsPath, what: "missing") }
        let file = try SafetensorsFile(path: weightsPath)
        var expected = Set<String>()
        var adapters: [WeightKey: LoRAAdapter] = [:]
        for w in plan.weights where w.kind == .matrix {
            guard let layer = w.layer, let target = settings.targets.first(where: { $0.role == w.role }) else { continue }
            let (out, inF) = (w.shape[0], w.shape[1])
            func tensor(_ part: String, _ shape: [Int]) throws -> FloatTensor {
                let name = tensorName(target, layer: layer, arch: arch, part: part)
                expected.insert(name)
                guard let info = file.tensorInfos[name] else { throw CheckpointError.missingTensor(path: weightsPath, name: name) }
                guard info.shape == shape else {
                    throw InferenceError.badAdapter(path: weightsPath, what: "\(name) is \(info.shape), this base needs \(shape) (an adapter for another base?)")
                }
                return FloatTensor(values: try file.floats(info), shape: shape)
            }
            let b = try tensor("B", [out, settings.rank])
            let bRows = FloatTensor(values: toBaseRows(b.array, role: w.role, plan: plan, inverse: false), shape: b.shape)
            adapters[WeightKey(w.role, layer)] = LoRAAdapter(a: try tensor("A", [settings.rank, inF]), b: bRows, scale: settings.scale)
        }
        if let extra = file.tensorInfos.keys.sorted().first(where: { !expected.contains($0) }) {
            throw InferenceError.badAdapter(path: weightsPath, what: "tensor \(extra) does not belong to this \(arch.rawValue) base (an adapter for another base?)")
        }
        return (settings, adapters)
    }
}

extension AdapterFolder {
    /// B's rows follow the base matrix's output rows: a GGUF base keeps llama's q/k rows permuted for
    /// ggml's RoPE pairing and GPT-NeoX's fused qkv rows blocked, PEFT files keep Hugging Face's order.
    /// `inverse: false` maps file order to the base's, `true` the base's back to the file's.
    static func toBaseRows(_ b: [Float], role: WeightRole, plan: DecoderPlan, inverse: Bool) -> [Float] {
        let c = plan.config
        let outRows: Int
        switch role {
        case .q: outRows = c.numHeads * c.headDim
        case .k: outRows = c.numKVHeads * c.headDim
        case .qkv: outRows = (c.numHeads + 2 * c.numKVHeads) * c.headDim
        default: return b
        }
        switch (role, plan.rope, plan.qkv) {
        case (.q, .adjacent, _):
            return inverse ? GGUFExport.permuteFromGGMLRope(b, heads: c.numHeads, rows: outRows) : GGUFExport.permuteForGGMLRope(b, heads: c.numHeads, rows: outRows)
        case (.k, .adjacent, _):
            return inverse ? GGUFExport.permuteFromGGMLRope(b, heads: c.numKVHeads, rows: outRows) : GGUFExport.permuteForGGMLRope(b, heads: c.numKVHeads, rows: outRows)
        case (.qkv, _, .fused(.blocked)):
            return inverse ? GGUFExport.blockedQKVToPerHead(b, heads: c.numHeads, headDim: c.headDim, rows: outRows)
                           : GGUFExport.perHeadQKVToBlocked(b, heads: c.numHeads, headDim: c.headDim, rows: outRows)
        default:
            return b
        }
    }

    /// Writes a PEFT adapter folder at `path` (whole or not at all): adapter_config.json naming `base`,
    /// adapter_model.safetensors with every adapter in Hugging Face row order, and `extraFiles`.
    public static func write(_ adapters: [WeightKey: LoRAAdapter], settings: LoRASettings, plan: DecoderPlan, base: String, to path: String,
                             extraFiles: [String: Data] = [:]) throws {
        let arch = plan.config.architecture
        try StagedFolder.write(to: path) { staging in
            let config = configJSON(settings, arch: arch, base: base)
            let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try json.write(to: staging.appendingPathComponent(configName))
            var writer = SafetensorsWriter(path: staging.appendingPathComponent(weightsName).path, metadata: ["format": "pt"])
            for (key, adapter) in adapters {
                guard let layer = key.layer, let target = settings.targets.first(where: { $0.role == key.role }) else { continue }
                try writer.add(tensorName(target, layer: layer, arch: arch, part: "A"), shape: adapter.a.shape, floats: adapter.a.array)
                try writer.add(tensorName(target, layer: layer, arch: arch, part: "B"), shape: adapter.b.shape,
                               floats: toBaseRows(adapter.b.array, role: key.role, plan: plan, inverse: true))
            }
            try writer.write()
            for (name, data) in extraFiles {
                let file = staging.appendingPathComponent(name)
                do { try data.write(to: file) } catch { throw CheckpointError.cannotWrite(path: file.path, reason: WriteFailure.reason(error)) }
            }
        }
    }
}

extension Model {
    /// A checkpoint with, when `adapter` names a PEFT LoRA folder, that adapter beside its weights.
    public static func load(path: String, adapter: String?) throws -> Model {
        let model = try load(path: path)
        return try adapter.map { try model.withAdapter($0) } ?? model
    }

    /// This model with the LoRA adapter in `dir` beside its weights (which stay as they are, packed or mapped).
    public func withAdapter(_ dir: String) throws -> Model {
        let (_, adapters) = try AdapterFolder.load(dir, plan: plan)
        return Model(config: config, weights: weights.attaching(adapters), path: path, sources: sources, tokenizer: tokenizer, interleave: false,
                     adapterPath: dir)
    }
}
