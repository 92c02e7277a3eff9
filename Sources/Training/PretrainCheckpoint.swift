// A pretraining checkpoint: a Hugging Face folder (CheckpointWriter) plus optimizer.safetensors and
// trainer_state.json — the step, tokens seen, the data position and the seed that orders the data —
// so `--resume` continues exactly. Intermediate checkpoints are OUT/step-N, each written to a
// temporary name and renamed; the final one is also published into OUT itself, file by file
// (hard links from OUT/step-N, each renamed into place, trainer_state.json last).
import Foundation
import Checkpoints

/// trainer_state.json. The only randomness after initialisation is the order of the training
/// windows, a pure function of (seed, epoch), so the seed and the micro-batch count are the RNG state.
public struct PretrainState: Codable, Equatable, Sendable {
    public var format = PretrainState.formatName
    public var step: Int
    public var tokensSeen: Int
    /// Micro-batches consumed: the position in the data's (seed, epoch)-shuffled window order.
    public var microBatchesSeen: Int
    /// The step the schedule decays to (the run's length; planned from the time budget with --minutes).
    public var plannedSteps: Int
    /// Where a re-planned decay continues from (LearningRateSchedule.anchor), so a resume keeps the curve.
    public var scheduleAnchor: LearningRateSchedule.DecayAnchor?
    public var dataSeed: UInt64
    public var trainTokens: Int
    public var validationTokens: Int
    /// Training time so far (for --minutes across resumes).
    public var elapsedSeconds: Double
    public var runName: String?
    public var lastLoss: Float?
    public var finished: Bool
    public var config: PretrainConfig

    public static let formatName = "hayai-pretrain-state-v1"
    public static let fileName = "trainer_state.json"

    enum CodingKeys: String, CodingKey {
        case format, step, tokensSeen = "tokens_seen", microBatchesSeen = "micro_batches_seen", plannedSteps = "planned_steps"
        case dataSeed = "data_seed", trainTokens = "train_tokens", validationTokens = "validation_tokens"
        case elapsedSeconds = "elapsed_seconds", runName = "run_name", lastLoss = "last_loss", finished, config
        case scheduleAnchor = "schedule_anchor"
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try! encoder.encode(self)) + Data("\n".utf8)
    }

    public static func load(folder: String) throws -> PretrainState {
        let path = (folder as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else { throw PretrainError.checkpoint(path: path, what: "cannot read the file") }
        let state: PretrainState
        do { state = try JSONDecoder().decode(PretrainState.self, from: data) } catch {
            throw PretrainError.checkpoint(path: path, what: "corrupt trainer state (not the JSON hayai writes)")
        }
        guard state.format == formatName else { throw PretrainError.checkpoint(path: path, what: "unknown trainer state format '\(state.format)'") }
        guard state.step >= 0, state.microBatchesSeen >= 0, state.plannedSteps >= 0 else {
            throw PretrainError.checkpoint(path: path, what: "corrupt trainer state (negative counts)")
        }
        return state
    }
}

public enum PretrainCheckpoints {
    public static func stepFolder(_ out: String, step: Int) -> String { (out as NSString).appendingPathComponent("step-\(step)") }

    /// The step-N folders in `out`, by step.
    public static func stepFolders(_ out: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("step-"), let n = Int(name.dropFirst(5)) else { return nil }
            return (n, (out as NSString).appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// Whether `out` holds anything a new run would overwrite.
    public static func holdsCheckpoint(_ out: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: (out as NSString).appendingPathComponent(PretrainState.fileName))
            || fm.fileExists(atPath: (out as NSString).appendingPathComponent("model.safetensors"))
            || !stepFolders(out).isEmpty
    }

    /// The checkpoint `--resume` continues from: the highest step among OUT and OUT/step-N (a step-N
    /// folder wins a tie: it was renamed into place whole).
    public static func latest(_ out: String) throws -> (folder: String, state: PretrainState) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PretrainError.checkpoint(path: out, what: "no such checkpoint folder to resume from")
        }
        var candidates = stepFolders(out).map(\.path)
        candidates.append(out)
        var best: (folder: String, state: PretrainState)?
        for folder in candidates {
            let statePath = (folder as NSString).appendingPathComponent(PretrainState.fileName)
            guard fm.fileExists(atPath: statePath) else {
                if folder != out { throw PretrainError.checkpoint(path: folder, what: "checkpoint without \(PretrainState.fileName) (incomplete or not hayai's); remove it to resume from an earlier one") }
                continue
            }
            let state = try PretrainState.load(folder: folder)
            if best == nil || state.step > best!.state.step { best = (folder, state) }
        }
        guard let best else {
            throw PretrainError.checkpoint(path: out, what: "no checkpoint to resume from (no \(PretrainState.fileName) here or in a step-N folder)")
        }
        return best
    }

    /// Makes OUT's files those of `folder`, one atomic rename each, trainer_state.json last.
    static func publish(_ folder: String, into out: String) throws {
        let fm = FileManager.default
        var names = try fm.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
        if let i = names.firstIndex(of: PretrainState.fileName) { names.append(names.remove(at: i)) }
        for name in names {
            let source = (folder as NSString).appendingPathComponent(name)
            let temporary = (out as NSString).appendingPathComponent(".\(name).tmp-\(UUID().uuidString.prefix(8))")
            if link(source, temporary) != 0 {
                do { try fm.copyItem(atPath: source, toPath: temporary) } catch {
                    try? fm.removeItem(atPath: temporary)
                    throw CheckpointError.cannotWrite(path: (out as NSString).appendingPathComponent(name), reason: error.localizedDescription)
                }
            }
            guard rename(temporary, (out as NSString).appendingPathComponent(name)) == 0 else {
                let reason = String(cString: strerror(errno))
                try? fm.removeItem(atPath: temporary)
                throw CheckpointError.cannotWrite(path: (out as NSString).appendingPathComponent(name), reason: "rename: \(reason)")
            }
        }
    }

    /// Removes what a killed writer left behind: hidden staging folders and files (`.NAME.tmp-…`,
    /// `.NAME.old-…`). The checkpoints themselves are whole.
    public static func removeLeftovers(_ out: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        for name in names where name.hasPrefix(".") && (name.contains(".tmp-") || name.contains(".old-")) {
            try? FileManager.default.removeItem(atPath: (out as NSString).appendingPathComponent(name))
        }
    }

    /// Removes all but the newest `keep` step-N folders (0 keeps all); never `current`.
    static func prune(_ out: String, keep: Int, current: String) {
        guard keep > 0 else { return }
        let folders = stepFolders(out)
        for old in folders.dropLast(keep) where old.path != current { try? FileManager.default.removeItem(atPath: old.path) }
    }

    /// tokenizer_config.json for a tokenizer folder that has none, so transformers and hayai know the specials.
    static func minimalTokenizerConfig(bos: String?, eos: String?, pad: String?, maxLength: Int) -> Data {
        var json: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": maxLength,
                                   "clean_up_tokenization_spaces": false]
        if let bos { json["bos_token"] = bos }
        if let eos { json["eos_token"] = eos; json["unk_token"] = eos }
        if let pad { json["pad_token"] = pad }
        return (try! JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])) + Data("\n".utf8)
    }
}
