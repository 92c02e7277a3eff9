// A reader for the protobuf wire format, just enough for SentencePiece's ModelProto: varints,
// length-delimited fields (strings, bytes, nested messages) and fixed32 floats; other fields are
// skipped. Hand-written rather than swift-protobuf because the .model reader needs a dozen fields,
// and the runtime would add ~15 s (debug) / ~57 s (release) to every clean CI build.

struct ProtobufReader {
    enum WireType: Int { case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5 }

    /// What is wrong, with the byte offset where it was found.
    struct Malformed: Error { var reason: String }

    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    var isAtEnd: Bool { position >= bytes.endIndex }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, wireType: WireType)? {
        if isAtEnd { return nil }
        let start = position
        let key = try varint()
        guard let type = WireType(rawValue: Int(key & 7)) else {
            throw Malformed(reason: "unknown wire type \(key & 7) at byte \(start)")
        }
        let number = Int(key >> 3)
        guard number > 0 else { throw Malformed(reason: "field number 0 at byte \(start)") }
        return (number, type)
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        let start = position
        while true {
            guard position < bytes.endIndex else { throw Malformed(reason: "truncated varint at byte \(start)") }
            let b = bytes[position]
            position += 1
            guard shift < 64 else { throw Malformed(reason: "varint longer than 10 bytes at byte \(start)") }
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }

    mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
        let start = position
        let length = try varint()
        guard length <= UInt64(bytes.endIndex - position) else {
            throw Malformed(reason: "field of \(length) bytes at byte \(start) runs past the end of its message")
        }
        let field = bytes[position..<position + Int(length)]
        position += Int(length)
        return field
    }

    mutating func fixed32() throws -> UInt32 {
        guard bytes.endIndex - position >= 4 else { throw Malformed(reason: "truncated fixed32 at byte \(position)") }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return value
    }

    mutating func string() throws -> String {
        let start = position
        let field = try lengthDelimited()
        guard let s = String(validating: field, as: UTF8.self) else {
            throw Malformed(reason: "string at byte \(start) is not valid UTF-8")
        }
        return s
    }

    mutating func float() throws -> Float { Float(bitPattern: try fixed32()) }

    mutating func bool() throws -> Bool { try varint() != 0 }

    /// A signed int32 field (negative values are sign-extended to ten bytes on the wire).
    mutating func int32() throws -> Int { Int(Int32(truncatingIfNeeded: try varint())) }

    mutating func skip(_ type: WireType) throws {
        switch type {
        case .varint: _ = try varint()
        case .fixed64:
            guard bytes.endIndex - position >= 8 else { throw Malformed(reason: "truncated fixed64 at byte \(position)") }
            position += 8
        case .lengthDelimited: _ = try lengthDelimited()
        case .fixed32: _ = try fixed32()
        case .startGroup, .endGroup: throw Malformed(reason: "groups are not used by ModelProto (byte \(position))")
        }
    }

    /// Checks a field's wire type before reading it as `expected`.
    func expect(_ type: WireType, _ expected: WireType, field: String) throws {
        guard type == expected else { throw Malformed(reason: "field \(field) has wire type \(type.rawValue), expected \(expected.rawValue)") }
    }
}
