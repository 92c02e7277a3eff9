// rinna's <NL> while streaming: a marker cut across token pieces still shows as one new line, and a
// tail that only looked like the start of a marker is shown at the end.
import XCTest
@testable import Chat

final class NewlineMarkerStreamTests: XCTestCase {
    func streamed(_ pieces: [String]) -> [String] {
        var stream = NewlineMarkerStream(marker: "<NL>")
        var shown = pieces.map { stream.push($0) }
        shown.append(stream.finish())
        return shown
    }

    func testMarkerCutAcrossPiecesBecomesOneNewLine() {
        XCTAssertEqual(streamed(["はい。<", "N", "L>そう", "です。"]), ["はい。", "", "\nそう", "です。", ""])
        XCTAssertEqual(streamed(["a<NL>b<NL>"]).joined(), "a\nb\n")
    }

    func testATailThatIsNotAMarkerIsShownAtTheEnd() {
        XCTAssertEqual(streamed(["x <", "b"]), ["x ", "<b", ""])
        XCTAssertEqual(streamed(["1 <N"]), ["1 ", "<N"])
    }
}
