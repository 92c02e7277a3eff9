// Charts of a report as inline SVG, drawn here rather than by a script in the page, so a report opens
// anywhere (no network, scripts off) and tests can count what was drawn. A line chart's series is one
// <path class="series"> whose `data-points` is the number of points drawn (NaN breaks the line; on a
// log axis values <= 0 are left out); a bar chart draws each bar with its 95% interval (±1.96 stderr).
import Basics
import Foundation

/// Colours of runs in the order they are listed (Tableau 10, readable on white).
enum ReportPalette {
    static let colors = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"]
    static func color(_ index: Int) -> String { colors[index % colors.count] }
}

struct ChartPoint: Equatable {
    var x: Double
    var y: Double
}

struct LineSeries {
    var run: String
    var metric: String
    var color: String
    var dashed = false
    /// Markers on each point, for sparse series (validation every N steps).
    var markers = false
    var points: [ChartPoint]
}

struct LineChart {
    var id: String
    var title: String
    var xLabel: String
    var yLabel: String
    var logY = false
    var series: [LineSeries]
    var width = 600.0
    var height = 300.0

    private let margin = (left: 62.0, right: 14.0, top: 30.0, bottom: 42.0)

    private func drawable(_ p: ChartPoint) -> Bool {
        p.x.isFinite && p.y.isFinite && (!logY || p.y > 0)
    }

    func svg() -> String {
        let all = series.flatMap { $0.points.filter(drawable) }
        var out = #"<svg class="chart line-chart" id="\#(ReportHTML.escape(id))" viewBox="0 0 \#(Int(width)) \#(Int(height))" role="img" aria-label="\#(ReportHTML.escape(title))" xmlns="http://www.w3.org/2000/svg">"#
        out += #"<text class="chart-title" x="\#(margin.left)" y="18">\#(ReportHTML.escape(title))\#(logY ? " (log scale)" : "")</text>"#
        guard let xr = Self.range(all.map(\.x)), let yr0 = Self.range(all.map(\.y)) else {
            out += #"<text class="no-data" x="\#(width / 2)" y="\#(height / 2)" text-anchor="middle">no data</text></svg>"#
            return out
        }
        let plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom
        let xTicks = Self.niceTicks(xr.lo, xr.hi)
        let xDomain = (lo: min(xr.lo, xTicks.first ?? xr.lo), hi: max(xr.hi, xTicks.last ?? xr.hi))
        let yTicks: [Double]
        let yDomain: (lo: Double, hi: Double)
        if logY {
            let lo = log10(yr0.lo), hi = log10(yr0.hi)
            let pad = max((hi - lo) * 0.05, 0.02)
            yDomain = (lo - pad, hi + pad)
            yTicks = Self.logTicks(pow(10, yDomain.lo), pow(10, yDomain.hi))
        } else {
            let pad = (yr0.hi - yr0.lo) * 0.05
            let ticks = Self.niceTicks(yr0.lo - pad, yr0.hi + pad)
            yTicks = ticks
            yDomain = (min(yr0.lo - pad, ticks.first!), max(yr0.hi + pad, ticks.last!))
        }
        func px(_ x: Double) -> Double { margin.left + (x - xDomain.lo) / (xDomain.hi - xDomain.lo) * plotW }
        func py(_ y: Double) -> Double {
            let v = logY ? log10(y) : y
            return margin.top + plotH - (v - yDomain.lo) / (yDomain.hi - yDomain.lo) * plotH
        }
        // Grid and axes.
        out += #"<g class="grid">"#
        for t in yTicks {
            let y = py(t)
            guard y >= margin.top - 0.5, y <= margin.top + plotH + 0.5 else { continue }
            out += #"<line x1="\#(margin.left)" x2="\#(margin.left + plotW)" y1="\#(Self.f(y))" y2="\#(Self.f(y))"/>"#
            out += #"<text class="tick" x="\#(margin.left - 6)" y="\#(Self.f(y + 4))" text-anchor="end">\#(ReportFormat.short(t))</text>"#
        }
        for t in xTicks {
            let x = px(t)
            guard x >= margin.left - 0.5, x <= margin.left + plotW + 0.5 else { continue }
            out += #"<line x1="\#(Self.f(x))" x2="\#(Self.f(x))" y1="\#(margin.top)" y2="\#(margin.top + plotH)"/>"#
            out += #"<text class="tick" x="\#(Self.f(x))" y="\#(margin.top + plotH + 16)" text-anchor="middle">\#(ReportFormat.short(t))</text>"#
        }
        out += "</g>"
        out += #"<rect class="frame" x="\#(margin.left)" y="\#(margin.top)" width="\#(plotW)" height="\#(plotH)"/>"#
        out += #"<text class="axis-label" x="\#(margin.left + plotW / 2)" y="\#(height - 6)" text-anchor="middle">\#(ReportHTML.escape(xLabel))</text>"#
        out += #"<text class="axis-label" transform="translate(14 \#(margin.top + plotH / 2)) rotate(-90)" text-anchor="middle">\#(ReportHTML.escape(yLabel))</text>"#
        // Series: one path each; a NaN (or a value <= 0 on a log axis) lifts the pen.
        for s in series {
            var d = "", count = 0, penDown = false, markers = ""
            for p in s.points {
                guard drawable(p) else { penDown = false; continue }
                let x = Self.f(px(p.x)), y = Self.f(py(p.y))
                d += (penDown ? " L" : (d.isEmpty ? "M" : " M")) + "\(x),\(y)"
                penDown = true
                count += 1
                if s.markers { markers += #"<circle cx="\#(x)" cy="\#(y)" r="2.5"/>"# }
            }
            let dash = s.dashed ? #" stroke-dasharray="6 4""# : ""
            out += #"<path class="series" data-run="\#(ReportHTML.escape(s.run))" data-metric="\#(ReportHTML.escape(s.metric))" data-points="\#(count)" fill="none" stroke="\#(s.color)" stroke-width="1.6"\#(dash) d="\#(d)"><title>\#(ReportHTML.escape(s.run)) · \#(ReportHTML.escape(s.metric))</title></path>"#
            if !markers.isEmpty { out += #"<g class="markers" fill="\#(s.color)">\#(markers)</g>"# }
        }
        return out + "</svg>"
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func range(_ values: [Double]) -> (lo: Double, hi: Double)? {
        guard var lo = values.min(), var hi = values.max() else { return nil }
        if lo == hi {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad; hi += pad
        }
        return (lo, hi)
    }

    /// About `count` round tick values (1, 2 or 5 times a power of ten apart) covering lo...hi.
    static func niceTicks(_ lo: Double, _ hi: Double, count: Int = 6) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var ticks: [Double] = []
        var t = floor(lo / step) * step
        while t <= hi + step * 1e-9, ticks.count < 50 {
            if t >= lo - step * 1e-9 { ticks.append(abs(t) < step * 1e-9 ? 0 : t) }
            t += step
        }
        return ticks
    }

    /// Powers of ten within lo...hi, with 2× and 5× between them when the range spans under two decades.
    static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        let first = Int(floor(log10(lo))), last = Int(ceil(log10(hi)))
        let multiples: [Double] = last - first <= 2 ? [1, 2, 5] : [1]
        var ticks: [Double] = []
        for e in first...last {
            for m in multiples {
                let t = m * pow(10, Double(e))
                if t >= lo, t <= hi { ticks.append(t) }
            }
        }
        return ticks.count >= 2 ? ticks : niceTicks(lo, hi, count: 4).filter { $0 > 0 }
    }
}

/// A bar per run in each group (a metric of one task), with its 95% confidence interval.
struct BarChart {
    struct Bar {
        var run: String
        var color: String
        var value: Double
        var stderr: Double?
    }

    var id: String
    var title: String
    var groups: [(name: String, bars: [Bar])]
    var height = 260.0

    private let margin = (left: 48.0, right: 12.0, top: 30.0, bottom: 40.0)
    static let z95 = 1.96

    func svg() -> String {
        let barW = 30.0, gap = 6.0, groupGap = 28.0
        let groupWidths = groups.map { Double($0.bars.count) * (barW + gap) - gap }
        let plotW = max(200, groupWidths.reduce(0, +) + groupGap * Double(groups.count + 1))
        let width = margin.left + plotW + margin.right
        let plotH = height - margin.top - margin.bottom
        var out = #"<svg class="chart bar-chart" id="\#(ReportHTML.escape(id))" viewBox="0 0 \#(Int(width)) \#(Int(height))" width="\#(Int(width))" role="img" aria-label="\#(ReportHTML.escape(title))" xmlns="http://www.w3.org/2000/svg">"#
        out += #"<text class="chart-title" x="\#(margin.left)" y="18">\#(ReportHTML.escape(title))</text>"#
        let tops = groups.flatMap { $0.bars.map { $0.value + Self.z95 * ($0.stderr ?? 0) } }.filter(\.isFinite)
        let maxTop = tops.max() ?? 1
        let yMax = maxTop <= 1 ? 1 : (LineChart.niceTicks(0, maxTop * 1.05).last ?? maxTop)
        func py(_ v: Double) -> Double { margin.top + plotH - max(0, min(v, yMax)) / yMax * plotH }
        out += #"<g class="grid">"#
        for t in LineChart.niceTicks(0, yMax, count: 5) {
            out += #"<line x1="\#(margin.left)" x2="\#(margin.left + plotW)" y1="\#(LineChart.f(py(t)))" y2="\#(LineChart.f(py(t)))"/>"#
            out += #"<text class="tick" x="\#(margin.left - 6)" y="\#(LineChart.f(py(t) + 4))" text-anchor="end">\#(ReportFormat.short(t))</text>"#
        }
        out += "</g>"
        var x = margin.left + groupGap
        for (g, group) in groups.enumerated() {
            let start = x
            for bar in group.bars {
                let value = bar.value.isFinite ? bar.value : 0
                let top = py(value)
                out += #"<g class="bar" data-run="\#(ReportHTML.escape(bar.run))" data-metric="\#(ReportHTML.escape(group.name))" data-value="\#(bar.value)">"#
                out += #"<rect x="\#(LineChart.f(x))" y="\#(LineChart.f(top))" width="\#(barW)" height="\#(LineChart.f(margin.top + plotH - top))" fill="\#(bar.color)"><title>\#(ReportHTML.escape(bar.run)): \#(ReportFormat.value(bar.value, stderr: bar.stderr))</title></rect>"#
                var labelY = top - 4
                if let se = bar.stderr, se.isFinite, se > 0 {
                    let lo = py(value - Self.z95 * se), hi = py(value + Self.z95 * se), cx = x + barW / 2
                    out += #"<path class="ci" d="M\#(LineChart.f(cx)),\#(LineChart.f(lo)) V\#(LineChart.f(hi)) M\#(LineChart.f(cx - 6)),\#(LineChart.f(lo)) H\#(LineChart.f(cx + 6)) M\#(LineChart.f(cx - 6)),\#(LineChart.f(hi)) H\#(LineChart.f(cx + 6))"/>"#
                    labelY = hi - 4
                }
                out += #"<text class="bar-value" x="\#(LineChart.f(x + barW / 2))" y="\#(LineChart.f(labelY))" text-anchor="middle">\#(ReportFormat.short(bar.value))</text></g>"#
                x += barW + gap
            }
            x += groupGap - gap
            out += #"<text class="axis-label" x="\#(LineChart.f(start + groupWidths[g] / 2))" y="\#(LineChart.f(margin.top + plotH + 18))" text-anchor="middle">\#(ReportHTML.escape(group.name))</text>"#
        }
        out += #"<line class="axis" x1="\#(margin.left)" x2="\#(margin.left + plotW)" y1="\#(margin.top + plotH)" y2="\#(margin.top + plotH)"/>"#
        return out + "</svg>"
    }
}

/// Numbers as a report shows them.
enum ReportFormat {
    /// Tick and bar labels: 3 significant digits with k/M/G suffixes; tiny values in e-notation.
    static func short(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        let a = abs(v)
        if a >= 1e9 { return String(format: "%.3g", v / 1e9) + "G" }
        if a >= 1e6 { return String(format: "%.3g", v / 1e6) + "M" }
        if a >= 1e4 { return String(format: "%.3g", v / 1e3) + "k" }
        if a != 0 && a < 1e-3 { return String(format: "%.1e", v) }
        return String(format: "%.4g", v)
    }

    /// A table value: 4 significant digits, with ± the 95% half-width when there is a standard error.
    static func value(_ v: Double, stderr: Double?) -> String {
        let base = v.isFinite ? String(format: "%.4g", v) : short(v)
        guard let se = stderr, se.isFinite, se > 0 else { return base }
        return base + " ± " + String(format: "%.2g", BarChart.z95 * se)
    }

    static func duration(_ seconds: TimeInterval?) -> String { Durations.text(seconds) }

    static func time(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }
}
