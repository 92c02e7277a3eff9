// HTML and roff to plain text: prose kept (Japanese included), markup, navigation and escapes gone.
import XCTest
@testable import Corpus

final class MarkupTests: XCTestCase {
    func testHTMLKeepsProseAndDropsHeadScriptsAndNavigation() {
        let html = """
        <html><head><title>T</title><style>p { color: red }</style></head>
        <body><div class="navheader"><a href="x.html">Prev</a> <a href="y.html">Next</a></div>
        <h1>GIMP の使い方</h1>
        <p>画像を&nbsp;開くには<b>ファイル</b>メニューを使います。</p>
        <script>var x = "<p>not text</p>";</script>
        <p>Tom &amp; Jerry &lt;3 &#x3042;&#12356; caf&eacute;</p>
        <pre>  indented
            code</pre>
        <ul><li>one</li><li>two</li></ul>
        <!-- a comment -->
        <div class="navfooter">Home</div></body></html>
        """
        let text = HTMLText.text(fromHTML: html)
        XCTAssertEqual(text, """
        GIMP の使い方

        画像を 開くにはファイルメニューを使います。

        Tom & Jerry <3 あい café

          indented
            code

        one
        two
        """)
    }

    func testRoffManPageBecomesText() {
        let roff = #"""
        .\" DO NOT MODIFY THIS FILE!
        .TH LS "1" "2021年5月" "GNU coreutils" "ユーザーコマンド"
        .SH 名前
        ls \- ディレクトリの内容をリスト表示する
        .SH 書式
        .B ls
        [\fI\,オプション\/\fR]... [\fI\,ファイル\/\fR]...
        .PP
        \fB\-a\fR, \fB\-\-all\fR は \(lq.\(rq で始まる要素を無視しない\(em 例:
        .BR ls (1),
        .IR foo " bar"
        .de XX
        ignored macro body
        ..
        .TS
        tab(:);
        l l.
        a:b
        .TE
        \&. で始まる \s-1SIZE\s0 \*(R
        """#
        XCTAssertEqual(RoffText.text(fromRoff: roff), """
        名前

        ls - ディレクトリの内容をリスト表示する

        書式

        ls
        [オプション]... [ファイル]...

        -a, --all は “.” で始まる要素を無視しない— 例:
        ls(1),
        foo bar

        a b

        . で始まる SIZE ®
        """)
    }

    func testNormalizationIsNFCWithCleanWhitespace() {
        let decomposed = "Cafe\u{301}\r\nが\u{3099}  \n\n\n\nend\u{0007}  "
        let n = TextNormalization.normalize(decomposed)
        XCTAssertEqual(n, "Caf\u{E9}\nが\u{3099}\n\nend".precomposedStringWithCanonicalMapping)
        XCTAssertEqual(n, n.precomposedStringWithCanonicalMapping)
    }
}
