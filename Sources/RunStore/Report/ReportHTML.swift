// A report as one self-contained HTML page: runs table, training curves, eval scores with 95%
// intervals, and the items where two eval runs disagree. Nothing is fetched: styles, SVG charts and a
// small script (filters for the item list; for the dashboard, live refresh) are all inline. The script
// marks `<body data-report-ready="1">` when it has run, and `data-report-errors` if anything threw.
import Basics
import Foundation

public enum Report {
    /// The whole page for `runs` (or the latest runs when empty).
    public static func html(store: RunStore, runs: [String] = [], options: ReportOptions = ReportOptions()) throws -> String {
        ReportHTML(data: try ReportData.load(store: store, runs: runs, options: options), options: options).page()
    }

    /// The page's `<main>` contents alone, which the live dashboard swaps in when the store changes.
    public static func view(store: RunStore, runs: [String] = [], options: ReportOptions = ReportOptions()) throws -> String {
        ReportHTML(data: try ReportData.load(store: store, runs: runs, options: options), options: options).main()
    }

    /// Writes the page to `url` (whole or not at all: written beside it, then renamed).
    public static func write(store: RunStore, runs: [String] = [], options: ReportOptions = ReportOptions(), to url: URL) throws {
        let page = try html(store: store, runs: runs, options: options)
        do {
            try Data(page.utf8).write(to: url, options: .atomic)
        } catch {
            throw RunStoreError.cannotWrite(path: url.path, reason: WriteFailure.reason(error))
        }
    }
}

struct ReportHTML {
    var data: ReportData
    var options: ReportOptions

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Metric names as training writes them, with the aliases other writers use.
    enum Known {
        static let trainLoss = ["train/loss", "loss"]
        static let valLoss = ["val/loss", "eval/loss"]
        static let lr = ["lr", "learning_rate", "train/lr"]
        static let gradNorm = ["grad_norm", "train/grad_norm"]
        static let tokensPerSecond = ["tokens_per_second", "train/tokens_per_second"]
        static var all: Set<String> { Set(trainLoss + valLoss + lr + gradNorm + tokensPerSecond) }
    }

    /// Every run shown, training runs first, each once; a run's colour is its place in this list.
    var shownRuns: [Run] {
        data.trainingRuns + data.evalRuns.filter { e in !data.trainingRuns.contains { $0.name == e.name } }
    }

    func color(of run: String) -> String {
        ReportPalette.color(shownRuns.firstIndex { $0.name == run } ?? 0)
    }

    func page() -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="ja">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="hayai">
            <title>\(Self.escape(options.title))</title>
            <style>\(Self.css)</style>
            </head>
            <body data-report-ready="0">
            <header><h1>\(Self.escape(options.title))</h1>
            <p class="meta">\(Self.escape(data.workspace)) · generated \(ReportFormat.time(data.generatedAt))<span id="live-status"></span></p></header>
            <main id="report">
            """
        out += main()
        out += "</main>\n<script>\n"
        if let live = options.live {
            out += "var HAYAI_LIVE = {poll: \(JSONText.string(live.pollPath)), view: \(JSONText.string(live.viewPath)), interval: \(live.intervalMilliseconds)};\n"
        } else {
            out += "var HAYAI_LIVE = null;\n"
        }
        out += Self.script
        out += "</script>\n</body>\n</html>\n"
        return out
    }

    func main() -> String {
        var out = runsSection()
        if !data.trainingRuns.isEmpty { out += trainingSection() }
        if !data.evalRuns.isEmpty { out += evalSection() }
        if !data.comparisons.isEmpty { out += comparisonSection() }
        if data.evalRuns.count >= 2 || !data.comparisons.isEmpty { out += disagreementSection() }
        return out
    }

    // MARK: - Paired differences

    /// Each stored comparison as `hayai compare` printed it: per task and metric, both runs on the
    /// paired items, B − A with its 95% paired-bootstrap interval, McNemar's p, and the unpaired counts.
    func comparisonSection() -> String {
        var out = #"<section id="comparisons"><h2>Paired differences</h2>"#
        for (run, r) in data.comparisons {
            out += "<h3>\(Self.escape(r.b)) − \(Self.escape(r.a)) <span class=\"note\">(\(Self.escape(run.name)))</span></h3>"
            out += #"<table class="comparison"><thead><tr><th>task</th><th>paired</th><th>unpaired A/B</th><th>metric</th><th>A</th><th>B</th><th>B − A</th><th>95% CI</th><th>McNemar p</th></tr></thead><tbody>"#
            for t in r.tasks {
                for m in t.metrics {
                    let ci = m.lower.map { String(format: "[%+.3f, %+.3f]", $0, m.upper ?? $0) } ?? "-"
                    out += "<tr><td>\(Self.escape(t.task))</td><td>\(t.items)</td><td>\(t.unpairedA)/\(t.unpairedB)</td><td>\(Self.escape(m.metric))</td>"
                    out += "<td>\(String(format: "%.4f", m.a))</td><td>\(String(format: "%.4f", m.b))</td>"
                    out += "<td>\(String(format: "%+.4f", m.difference))</td><td>\(ci)</td><td>\(m.mcnemarP.map { String(format: "%.3g", $0) } ?? "-")</td></tr>"
                }
            }
            out += "</tbody></table>"
        }
        return out + "</section>\n"
    }

    // MARK: - Runs

    func runsSection() -> String {
        let runs = shownRuns
        var out = #"<section id="runs"><h2>Runs</h2>"#
        guard !runs.isEmpty else { return out + #"<p class="empty">No runs in this workspace yet.</p></section>"# }
        out += #"<table class="runs"><thead><tr><th>run</th><th>kind</th><th>model</th><th>status</th><th>started</th><th>duration</th><th>last step</th><th>train loss</th><th>val loss</th></tr></thead><tbody>"#
        for run in runs {
            let metrics = data.metrics[run.name] ?? [:]
            let lastStep = metrics.values.compactMap { $0.last?.step }.max()
            func last(_ names: [String]) -> String {
                guard let name = names.first(where: { metrics[$0] != nil }), let v = metrics[name]?.last?.value else { return "-" }
                return ReportFormat.short(v)
            }
            let duration = run.status == .running ? Date().timeIntervalSince(run.startedAt) : run.duration
            out += "<tr><td><span class=\"swatch\" style=\"background:\(color(of: run.name))\"></span>\(Self.escape(run.name))</td>"
            out += "<td>\(run.kind.rawValue)</td><td>\(Self.escape(run.model ?? "-"))</td>"
            out += "<td class=\"status-\(run.status.rawValue)\">\(run.status.rawValue)</td><td>\(ReportFormat.time(run.startedAt))</td>"
            out += "<td>\(ReportFormat.duration(duration))</td><td>\(lastStep.map(String.init) ?? "-")</td>"
            out += "<td>\(last(Known.trainLoss))</td><td>\(last(Known.valLoss))</td></tr>"
        }
        return out + "</tbody></table></section>\n"
    }

    // MARK: - Training curves

    func points(_ run: String, _ names: [String]) -> (metric: String, points: [MetricPoint])? {
        guard let metrics = data.metrics[run], let name = names.first(where: { metrics[$0] != nil }) else { return nil }
        return (name, metrics[name]!)
    }

    func series(_ names: [String], x: (MetricPoint) -> Double?, dashed: Bool = false) -> [LineSeries] {
        data.trainingRuns.compactMap { run in
            guard let (metric, points) = points(run.name, names) else { return nil }
            let drawn = points.compactMap { p in x(p).map { ChartPoint(x: $0, y: p.value) } }
            guard !drawn.isEmpty else { return nil }
            return LineSeries(run: run.name, metric: metric, color: color(of: run.name), dashed: dashed,
                              markers: dashed && drawn.count <= 100, points: drawn)
        }
    }

    func trainingSection() -> String {
        let byStep: (MetricPoint) -> Double? = { Double($0.step) }
        let byTokens: (MetricPoint) -> Double? = { $0.tokens.map(Double.init) }
        var charts: [LineChart] = []
        let lossByStep = series(Known.trainLoss, x: byStep) + series(Known.valLoss, x: byStep, dashed: true)
        if !lossByStep.isEmpty {
            charts.append(LineChart(id: "chart-loss-steps", title: "Loss", xLabel: "step", yLabel: "loss",
                                    logY: options.logScale, series: lossByStep))
        }
        let lossByTokens = series(Known.trainLoss, x: byTokens) + series(Known.valLoss, x: byTokens, dashed: true)
        if !lossByTokens.isEmpty {
            charts.append(LineChart(id: "chart-loss-tokens", title: "Loss against tokens", xLabel: "tokens", yLabel: "loss",
                                    logY: options.logScale, series: lossByTokens))
        }
        for (id, title, names) in [("chart-lr", "Learning rate", Known.lr), ("chart-grad-norm", "Gradient norm", Known.gradNorm),
                                   ("chart-tokens-per-second", "Tokens per second", Known.tokensPerSecond)] {
            let s = series(names, x: byStep)
            if !s.isEmpty { charts.append(LineChart(id: id, title: title, xLabel: "step", yLabel: names[0], series: s)) }
        }
        for name in data.metricNames.subtracting(Known.all).sorted() {
            charts.append(LineChart(id: "chart-metric-" + Self.slug(name), title: name, xLabel: "step", yLabel: name,
                                    series: series([name], x: byStep)))
        }
        var out = #"<section id="training"><h2>Training</h2><div class="legend">"#
        for run in data.trainingRuns {
            out += #"<span class="legend-item"><span class="swatch" style="background:\#(color(of: run.name))"></span>\#(Self.escape(run.name))</span>"#
        }
        out += #"<span class="legend-key">solid: training · dashed: validation</span></div><div class="charts">"#
        for chart in charts { out += #"<figure>\#(chart.svg())</figure>"# }
        return out + "</div></section>\n"
    }

    static func slug(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") ? Character($0) : "-" })
    }

    // MARK: - Eval

    func evalSection() -> String {
        let runs = data.evalRuns
        var out = #"<section id="eval"><h2>Evaluation</h2>"#
        let rows = Dictionary(grouping: runs.flatMap { run in (data.evalResults[run.name] ?? []).map { (run.name, $0) } }) {
            "\($0.1.task)\u{0}\($0.1.metric)"
        }
        guard !rows.isEmpty else { return out + #"<p class="empty">No eval results yet.</p></section>"# + "\n" }
        out += #"<table class="eval"><thead><tr><th>task</th><th>metric</th><th>n</th>"#
        for run in runs {
            out += #"<th><span class="swatch" style="background:\#(color(of: run.name))"></span>\#(Self.escape(run.name))<div class="model">\#(Self.escape(run.model ?? ""))</div></th>"#
        }
        out += "</tr></thead><tbody>"
        let keys = rows.keys.sorted()
        for key in keys {
            let entries = rows[key]!
            let first = entries[0].1
            let ns = Set(entries.map(\.1.n)).sorted().map(String.init).joined(separator: "/")
            out += "<tr><td>\(Self.escape(first.task))</td><td>\(Self.escape(first.metric))</td><td>\(ns)</td>"
            for run in runs {
                if let r = entries.first(where: { $0.0 == run.name })?.1 {
                    out += "<td class=\"num\">\(ReportFormat.value(r.value, stderr: r.stderr))</td>"
                } else {
                    out += "<td class=\"num\">-</td>"
                }
            }
            out += "</tr>"
        }
        out += #"</tbody></table><p class="note">± is the 95% interval, 1.96 × the stored standard error over items.</p><div class="charts bars">"#
        let tasks = Array(Set(keys.map { rows[$0]![0].1.task })).sorted()
        for task in tasks {
            let results = runs.flatMap { run in (data.evalResults[run.name] ?? []).filter { $0.task == task }.map { (run, $0) } }
            let metrics = Array(Set(results.map(\.1.metric))).sorted()
            let fractions = metrics.filter { m in results.filter { $0.1.metric == m }.allSatisfy { (0...1).contains($0.1.value) } }
            let shown = fractions.isEmpty ? Array(metrics.prefix(1)) : fractions
            let groups = shown.map { m in
                (name: m, bars: results.filter { $0.1.metric == m }.map {
                    BarChart.Bar(run: $0.0.name, color: color(of: $0.0.name), value: $0.1.value, stderr: $0.1.stderr)
                })
            }
            out += #"<figure>\#(BarChart(id: "chart-eval-" + Self.slug(task), title: task, groups: groups).svg())</figure>"#
        }
        return out + "</div></section>\n"
    }

    // MARK: - Disagreements

    func disagreementSection() -> String {
        var out = #"<section id="disagreements"><h2>Where the models disagree</h2>"#
        guard !data.comparisons.isEmpty else {
            return out + #"<p class="empty">No stored comparison of these eval runs: run <code>hayai compare A B</code>.</p></section>"# + "\n"
        }
        guard data.disagreementCount > 0 else {
            return out + #"<p class="empty">No paired item where the two eval runs disagree.</p></section>"# + "\n"
        }
        let pairs = Dictionary(grouping: data.disagreements) { "\($0.runA) vs \($0.runB) · \($0.task)" }
        out += "<ul class=\"pairs\">"
        for key in pairs.keys.sorted() {
            let items = pairs[key]!
            let aRight = items.filter(\.correctA).count
            out += "<li>\(Self.escape(key)): \(items.count) items — \(Self.escape(items[0].runA)) right in \(aRight), \(Self.escape(items[0].runB)) right in \(items.count - aRight)</li>"
        }
        out += "</ul>"
        if data.disagreementCount > data.disagreements.count {
            out += #"<p class="note">Showing the first \#(data.disagreements.count) of \#(data.disagreementCount) items.</p>"#
        }
        out += #"<div class="filters"><input id="filter-text" type="search" placeholder="filter text…"> <select id="filter-task"><option value="">all tasks</option>"#
        for task in Set(data.disagreements.map(\.task)).sorted() {
            out += "<option>\(Self.escape(task))</option>"
        }
        out += #"</select> <span id="filter-count"></span></div><div id="disagreement-list">"#
        for (i, d) in data.disagreements.enumerated() {
            let search = [d.task, d.question, d.predictionA ?? "", d.predictionB ?? "", d.gold ?? ""].joined(separator: " ").lowercased()
            let snippet = d.question.count > 110 ? String(d.question.prefix(110)) + "…" : d.question
            // The first item starts open, so the page shows what an entry holds.
            out += #"<details class="item"\#(i == 0 ? " open" : "") data-task="\#(Self.escape(d.task))" data-search="\#(Self.escape(search))">"#
            out += #"<summary><span class="task">\#(Self.escape(d.task))</span> <span class="index">#\#(d.itemIndex)</span> "#
            out += #"<span class="q">\#(Self.escape(snippet.replacingOccurrences(of: "\n", with: " ")))</span> "#
            out += #"<span class="verdict">\#(d.correctA ? "✓" : "✗") / \#(d.correctB ? "✓" : "✗")</span></summary><div class="item-body">"#
            out += #"<p class="question">\#(Self.escape(d.question))</p>"#
            if !d.choices.isEmpty {
                out += #"<ol class="choices" start="0">"# + d.choices.map { "<li>\(Self.escape($0))</li>" }.joined() + "</ol>"
            }
            out += #"<table class="preds"><tr><th>\#(Self.escape(d.runA))</th><td class="\#(d.correctA ? "right" : "wrong")">\#(Self.escape(d.predictionA ?? "-"))</td></tr>"#
            out += #"<tr><th>\#(Self.escape(d.runB))</th><td class="\#(d.correctB ? "right" : "wrong")">\#(Self.escape(d.predictionB ?? "-"))</td></tr>"#
            out += #"<tr><th>gold</th><td>\#(Self.escape(d.gold ?? "-"))</td></tr></table></div></details>"#
        }
        return out + "</div></section>\n"
    }

    // MARK: - Style and script

    static let css = """
        :root { color-scheme: light; }
        body { margin: 0 auto; max-width: 1320px; padding: 12px 20px 40px; color: #222; background: #fff;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial,
            "Hiragino Sans", "Hiragino Kaku Gothic ProN", "Noto Sans CJK JP", "Noto Sans JP", "Yu Gothic", Meiryo, sans-serif;
          font-size: 14px; line-height: 1.45; }
        h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 17px; margin: 26px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
        .meta, .note { color: #666; font-size: 12px; }
        table { border-collapse: collapse; font-size: 13px; }
        th, td { border-bottom: 1px solid #eee; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
        td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
        th .model { color: #888; font-weight: normal; font-size: 11px; }
        .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
        .status-running { color: #1a7f37; } .status-failed { color: #c62828; } .status-interrupted { color: #b26a00; }
        .legend { margin: 4px 0 8px; } .legend-item { margin-right: 14px; } .legend-key { color: #777; font-size: 12px; }
        .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 10px 18px; }
        .charts.bars { grid-template-columns: repeat(auto-fill, minmax(360px, max-content)); margin-top: 10px; }
        figure { margin: 0; }
        svg.line-chart { width: 100%; height: auto; }
        svg.bar-chart { max-width: 100%; height: auto; }
        svg text { font-family: inherit; font-size: 11px; fill: #444; }
        svg .chart-title { font-size: 13px; font-weight: 600; fill: #222; }
        svg .axis-label { font-size: 11px; fill: #555; }
        svg .grid line { stroke: #eee; } svg .frame { fill: none; stroke: #ccc; } svg .axis { stroke: #999; }
        svg .ci { stroke: #222; stroke-width: 1.2; fill: none; }
        svg .no-data { fill: #999; }
        .pairs { margin: 4px 0 8px; padding-left: 20px; }
        .filters { margin: 8px 0; } .filters input { width: 260px; }
        details.item { border-bottom: 1px solid #eee; padding: 4px 0; }
        details.item summary { cursor: pointer; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
        details.item .task { color: #555; font-size: 12px; } details.item .index { color: #999; font-size: 12px; }
        details.item .verdict { color: #666; font-size: 12px; }
        .item-body { padding: 4px 0 6px 18px; } .question { white-space: pre-wrap; margin: 4px 0; }
        .choices { margin: 2px 0 6px; } td.right { color: #1a7f37; } td.wrong { color: #c62828; }
        .preds td { white-space: pre-wrap; }
        """

    static let script = """
        (function () {
          var body = document.body;
          window.addEventListener('error', function (e) { body.setAttribute('data-report-errors', String(e.message)); });
          function initFilters() {
            var list = document.getElementById('disagreement-list');
            if (!list) return;
            var text = document.getElementById('filter-text'), task = document.getElementById('filter-task');
            var count = document.getElementById('filter-count');
            function apply() {
              var needle = (text.value || '').toLowerCase(), wanted = task.value, shown = 0;
              var items = list.querySelectorAll('details.item');
              for (var i = 0; i < items.length; i++) {
                var ok = (!wanted || items[i].getAttribute('data-task') === wanted) &&
                         (!needle || items[i].getAttribute('data-search').indexOf(needle) >= 0);
                items[i].hidden = !ok;
                if (ok) shown++;
              }
              count.textContent = shown + ' of ' + items.length + ' shown';
            }
            text.oninput = apply; task.onchange = apply; apply();
          }
          function live(config) {
            var status = document.getElementById('live-status'), last = null;
            function stamp(text) { status.textContent = ' · ' + text; }
            function reload() {
              var text = document.getElementById('filter-text'), task = document.getElementById('filter-task');
              var kept = [text ? text.value : '', task ? task.value : ''];
              return fetch(config.view + location.search, {cache: 'no-store'}).then(function (r) { return r.text(); })
                .then(function (html) {
                  document.getElementById('report').innerHTML = html;
                  text = document.getElementById('filter-text'); task = document.getElementById('filter-task');
                  if (text) text.value = kept[0];
                  if (task) task.value = kept[1];
                  initFilters();
                });
            }
            function tick() {
              fetch(config.poll + location.search, {cache: 'no-store'}).then(function (r) { return r.text(); })
                .then(function (state) {
                  var changed = last !== null && state !== last;
                  last = state;
                  return changed ? reload() : null;
                })
                .then(function () { stamp('live, checked ' + new Date().toLocaleTimeString()); })
                .catch(function () { stamp('dashboard not reachable; retrying'); })
                .then(function () { setTimeout(tick, config.interval); });
            }
            tick();
          }
          initFilters();
          if (HAYAI_LIVE) live(HAYAI_LIVE);
          body.setAttribute('data-report-ready', '1');
        })();

        """
}
