// JSONObjectMembers: an object's members in file order, two canonically equivalent keys kept as two (a
// String-keyed dictionary keeps one), escapes decoded, other members skipped whatever they hold.
import XCTest
import Foundation
@testable import Tokenizers

final class JSONObjectMembersTests: XCTestCase {
    func testCanonicallyEquivalentKeysStayTwoMembersInFileOrder() throws {
        let text = #"{"added_tokens": [{"id": 0, "content": "}{\"]"}], "model": {"type": "BPE", "merges": [["a", "b"]], "#
            + #""vocab": {"\u1f71": 5, "\u03ac": 6, "\ufeffx": 7, "a\"b": 8, "\ud83d\ude00": 9}}, "tail": [1, {"vocab": 2}]}"#
        let members = try XCTUnwrap(try JSONObjectMembers.read(Data(text.utf8), path: ["model", "vocab"]))
        XCTAssertEqual(members.map { $0.0.unicodeScalars.map(\.value) }, [[0x1F71], [0x03AC], [0xFEFF, 0x78], [0x61, 0x22, 0x62], [0x1F600]])
        XCTAssertEqual(members.map { $0.1 as? Int }, [5, 6, 7, 8, 9])
        let viaDictionary = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["model"] as? [String: Any])
        XCTAssertLessThan((viaDictionary["vocab"] as? [String: Any])?.count ?? 0, 5, "why the reader exists: a dictionary merges the two")
        XCTAssertNil(try JSONObjectMembers.read(Data(text.utf8), path: ["model", "missing"]))
        XCTAssertThrowsError(try JSONObjectMembers.read(Data(#"{"model": {"vocab": {"a": 1"#.utf8), path: ["model", "vocab"]))
    }
}
