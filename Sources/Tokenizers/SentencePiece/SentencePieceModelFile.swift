// The contents of a SentencePiece `.model` file (a serialized ModelProto from sentencepiece_model.proto):
// the pieces with scores and types, the trainer options that change encoding (model type, byte
// fallback, special ids) and the normalizer spec. Field numbers and defaults are the proto's.
import Foundation

struct SentencePieceModelFile {
    enum PieceType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }
    enum ModelType: Int { case unigram = 1, bpe = 2, word = 3, char = 4 }

    struct Piece { var text: String; var score: Float; var type: PieceType }

    struct NormalizerSpec {
        var name = ""
        /// `<trie size: u32 LE><Darts double array><NUL-terminated replacements>`; empty for identity.
        var precompiledCharsmap: [UInt8] = []
        var addDummyPrefix = true
        var removeExtraWhitespaces = true
        var escapeWhitespaces = true
    }

    var pieces: [Piece] = []
    var modelType: ModelType = .unigram
    var byteFallback = false
    var treatWhitespaceAsSuffix = false
    var unknownSurface = " \u{2047} "
    var unknownID = 0
    var bosID = 1
    var eosID = 2
    var padID = -1
    var normalizer = NormalizerSpec()
    var denormalizer: NormalizerSpec? = nil

    static func read(path: String) throws -> SentencePieceModelFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TokenizerError.unreadable(path: path, reason: error.localizedDescription)
        }
        return try parse([UInt8](data)[...], path: path)
    }

    static func parse(_ bytes: ArraySlice<UInt8>, path: String) throws -> SentencePieceModelFile {
        var model = SentencePieceModelFile()
        var rawModelType = 1
        do {
            var r = ProtobufReader(bytes)
            while let (number, type) = try r.nextField() {
                switch number {
                case 1:
                    try r.expect(type, .lengthDelimited, field: "ModelProto.pieces")
                    model.pieces.append(try parsePiece(try r.lengthDelimited(), index: model.pieces.count))
                case 2:
                    try r.expect(type, .lengthDelimited, field: "ModelProto.trainer_spec")
                    try parseTrainerSpec(try r.lengthDelimited(), into: &model, modelType: &rawModelType)
                case 3:
                    try r.expect(type, .lengthDelimited, field: "ModelProto.normalizer_spec")
                    model.normalizer = try parseNormalizerSpec(try r.lengthDelimited())
                case 5:
                    try r.expect(type, .lengthDelimited, field: "ModelProto.denormalizer_spec")
                    model.denormalizer = try parseNormalizerSpec(try r.lengthDelimited())
                default:
                    try r.skip(type)
                }
            }
        } catch let e as ProtobufReader.Malformed {
            throw TokenizerError.malformedModel(path: path, reason: e.reason)
        }
        guard let modelType = ModelType(rawValue: rawModelType) else {
            throw TokenizerError.unsupportedModel(path: path, type: "SentencePiece model_type \(rawModelType)")
        }
        model.modelType = modelType
        try model.validate(path: path)
        return model
    }

    private static func parsePiece(_ bytes: ArraySlice<UInt8>, index: Int) throws -> Piece {
        var piece = Piece(text: "", score: 0, type: .normal)
        var r = ProtobufReader(bytes)
        while let (number, type) = try r.nextField() {
            switch number {
            case 1: try r.expect(type, .lengthDelimited, field: "pieces[\(index)].piece"); piece.text = try r.string()
            case 2: try r.expect(type, .fixed32, field: "pieces[\(index)].score"); piece.score = try r.float()
            case 3:
                try r.expect(type, .varint, field: "pieces[\(index)].type")
                let raw = try r.int32()
                guard let t = PieceType(rawValue: raw) else {
                    throw ProtobufReader.Malformed(reason: "piece \(index) has unknown type \(raw)")
                }
                piece.type = t
            default: try r.skip(type)
            }
        }
        return piece
    }

    private static func parseTrainerSpec(_ bytes: ArraySlice<UInt8>, into model: inout SentencePieceModelFile,
                                         modelType: inout Int) throws {
        var r = ProtobufReader(bytes)
        while let (number, type) = try r.nextField() {
            func int() throws -> Int { try r.expect(type, .varint, field: "trainer_spec.\(number)"); return try r.int32() }
            func bool() throws -> Bool { try r.expect(type, .varint, field: "trainer_spec.\(number)"); return try r.bool() }
            switch number {
            case 3: modelType = try int()
            case 24: model.treatWhitespaceAsSuffix = try bool()
            case 35: model.byteFallback = try bool()
            case 40: model.unknownID = try int()
            case 41: model.bosID = try int()
            case 42: model.eosID = try int()
            case 43: model.padID = try int()
            case 44:
                try r.expect(type, .lengthDelimited, field: "trainer_spec.unk_surface")
                model.unknownSurface = try r.string()
            default: try r.skip(type)
            }
        }
    }

    private static func parseNormalizerSpec(_ bytes: ArraySlice<UInt8>) throws -> NormalizerSpec {
        var spec = NormalizerSpec()
        var r = ProtobufReader(bytes)
        while let (number, type) = try r.nextField() {
            func bool() throws -> Bool { try r.expect(type, .varint, field: "normalizer_spec.\(number)"); return try r.bool() }
            switch number {
            case 1: try r.expect(type, .lengthDelimited, field: "normalizer_spec.name"); spec.name = try r.string()
            case 2:
                try r.expect(type, .lengthDelimited, field: "normalizer_spec.precompiled_charsmap")
                spec.precompiledCharsmap = Array(try r.lengthDelimited())
            case 3: spec.addDummyPrefix = try bool()
            case 4: spec.removeExtraWhitespaces = try bool()
            case 5: spec.escapeWhitespaces = try bool()
            default: try r.skip(type)
            }
        }
        return spec
    }

    /// The checks sentencepiece's ModelInterface makes when it loads a model.
    private func validate(path: String) throws {
        func bad(_ reason: String) -> TokenizerError { .malformedModel(path: path, reason: reason) }
        guard !pieces.isEmpty else { throw bad("no pieces (is this a SentencePiece .model file?)") }
        switch modelType {
        case .unigram, .bpe: break
        case .word: throw TokenizerError.unsupportedModel(path: path, type: "SentencePiece WORD")
        case .char: throw TokenizerError.unsupportedModel(path: path, type: "SentencePiece CHAR")
        }
        if treatWhitespaceAsSuffix {
            throw TokenizerError.unsupportedComponent(path: path, what: "SentencePiece treat_whitespace_as_suffix")
        }
        var seen: [[UInt8]: Int] = [:]
        var unknowns = 0
        // BPE keeps every piece in one table; unigram keeps control, unknown and byte pieces apart.
        let sharedNamespace = modelType == .bpe
        var bytes = Set<UInt8>()
        for (id, p) in pieces.enumerated() {
            if p.text.isEmpty { throw bad("piece \(id) is empty") }
            // Normal, user-defined and unused pieces share one namespace, the reserved ones another.
            let namespace: [UInt8] = sharedNamespace || [.normal, .userDefined, .unused].contains(p.type) ? [] : [0]
            if p.text.utf8.contains(0) { throw bad("piece \(id) contains a NUL character") }
            if modelType == .unigram && !p.score.isFinite { throw bad("piece \(id) has score \(p.score)") }
            if let other = seen[namespace + Array(p.text.utf8)] { throw bad("piece '\(p.text)' is defined twice (ids \(other) and \(id))") }
            seen[namespace + Array(p.text.utf8)] = id
            if p.type == .unknown { unknowns += 1 }
            if p.type == .byte {
                guard byteFallback else { throw bad("byte piece \(p.text) although byte_fallback is false") }
                guard let b = SentencePieceTokenizer.byteValue(p.text) else { throw bad("byte piece '\(p.text)' is not <0xNN>") }
                bytes.insert(b)
            }
        }
        if unknowns > 1 { throw bad("\(unknowns) unknown pieces") }
        if unknowns == 0 && !byteFallback { throw bad("no unknown piece (<unk>) and no byte fallback") }
        if byteFallback && bytes.count != 256 { throw bad("byte_fallback is true but only \(bytes.count) of 256 byte pieces exist") }
    }
}
