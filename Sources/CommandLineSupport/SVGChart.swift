import CollectivesSystem
/// A line chart as a standalone SVG document, for a person to open in a browser: one line per
/// series, y linear from zero. The one renderer of the benchmark's sweeps (x: sizes in bytes on
/// a log-2 scale) and of the trainer's epochs (x: whole numbers, a second y axis on the right).
package struct SVGChart {
    package struct Series {
        package var name: String
        /// (x, y) points; x > 0 on a log-2 axis.
        package var points: [(Double, Double)]
        /// Whether the series is measured on the right-hand axis.
        package var onRightAxis: Bool
        package init(name: String, points: [(Double, Double)], onRightAxis: Bool = false) {
            self.name = name
            self.points = points
            self.onRightAxis = onRightAxis
        }
    }

    /// How x is laid out.
    package enum XScale {
        /// Log 2, ticks at powers of two labelled in B/K/M/G.
        case bytes
        /// Linear between the smallest and largest x, a tick at every whole number.
        case steps
    }

    package var title: String
    package var xLabel: String
    package var yLabel: String
    package var series: [Series]
    package var xScale: XScale
    /// The right-hand axis's label and its top value, where some series use it.
    package var rightAxis: (label: String, maximum: Double)?

    package init(title: String, xLabel: String, yLabel: String, series: [Series], xScale: XScale = .bytes,
                rightAxis: (label: String, maximum: Double)? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.xScale = xScale
        self.rightAxis = rightAxis
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// The SVG text.
    package func render() -> String {
        let w = 760.0, h = 420.0, left = 70.0, right = rightAxis == nil ? 170.0 : 230.0, top = 36.0, bottom = 50.0
        let plotW = w - left - right, plotH = h - top - bottom
        let xs = series.flatMap { $0.points.map(\.0) }.filter { xScale == .steps || $0 > 0 }
        let lowX: Double, highX: Double
        switch xScale {
        case .bytes:
            lowX = log2(xs.min() ?? 1)
            highX = Swift.max(log2(xs.max() ?? 2), lowX + 1)
        case .steps:
            lowX = xs.min() ?? 0
            highX = Swift.max(xs.max() ?? 1, lowX + 1)
        }
        let highY = niceCeiling(series.filter { !$0.onRightAxis }.flatMap { $0.points.map(\.1) }.max() ?? 1)
        let highRight = rightAxis?.maximum ?? 1
        func x(_ value: Double) -> Double {
            let position = xScale == .bytes ? log2(Swift.max(value, 1e-300)) : value
            return left + plotW * (position - lowX) / (highX - lowX)
        }
        func y(_ value: Double, right: Bool = false) -> Double { top + plotH * (1 - value / (right ? highRight : highY)) }

        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(left + plotW / 2))" y="20" text-anchor="middle" font-size="14">\(escape(title))</text>
        <line x1="\(left)" y1="\(top + plotH)" x2="\(left + plotW)" y2="\(top + plotH)" stroke="black"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(top + plotH)" stroke="black"/>
        <text x="\(Int(left + plotW / 2))" y="\(Int(h - 10))" text-anchor="middle">\(escape(xLabel))</text>
        <text x="16" y="\(Int(top + plotH / 2))" transform="rotate(-90 16 \(Int(top + plotH / 2)))" text-anchor="middle">\(escape(yLabel))</text>

        """
        switch xScale {
        case .bytes:
            // x ticks at powers of two, labelled in B/K/M/G; at most about ten.
            let stride = Swift.max(1, Int((highX - lowX) / 10) + 1)
            var exponent = Int(lowX.rounded(.up))
            while Double(exponent) <= highX {
                svg += xTick(x(Double(1 << exponent)), sizeLabel(exponent), top: top, plotH: plotH)
                exponent += stride
            }
        case .steps:
            let stride = Swift.max(1, Int((highX - lowX) / 10) + 1)
            var step = Int(lowX.rounded(.up))
            while Double(step) <= highX {
                svg += xTick(x(Double(step)), String(step), top: top, plotH: plotH)
                step += stride
            }
        }
        for k in 0...5 {
            let value = highY * Double(k) / 5
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(value)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y(value)))\" stroke=\"#eeeeee\"/>\n"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(value) + 4))\" text-anchor=\"end\">\(fixed(value, highY < 1 ? 3 : 2))</text>\n"
            if rightAxis != nil {
                let other = highRight * Double(k) / 5
                svg += "<text x=\"\(f(left + plotW + 6))\" y=\"\(f(y(other, right: true) + 4))\">\(fixed(other, highRight < 10 ? 2 : 0))</text>\n"
            }
        }
        if let rightAxis {
            let cx = left + plotW + 44, cy = top + plotH / 2
            svg += "<line x1=\"\(f(left + plotW))\" y1=\"\(f(top))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\" stroke=\"black\"/>\n"
            svg += "<text x=\"\(f(cx))\" y=\"\(f(cy))\" transform=\"rotate(90 \(f(cx)) \(f(cy)))\" text-anchor=\"middle\">\(escape(rightAxis.label))</text>\n"
        }
        let legendX = left + plotW + (rightAxis == nil ? 14 : 64)
        for (index, line) in series.enumerated() {
            let color = Self.colors[index % Self.colors.count]
            let shown = line.points.filter { xScale == .steps || $0.0 > 0 }
            let points = shown.map { "\(f(x($0.0))),\(f(y($0.1, right: line.onRightAxis)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for point in shown {
                svg += "<circle cx=\"\(f(x(point.0)))\" cy=\"\(f(y(point.1, right: line.onRightAxis)))\" r=\"2.5\" fill=\"\(color)\"/>\n"
            }
            let ly = top + 10 + Double(index) * 18
            svg += "<line x1=\"\(f(legendX))\" y1=\"\(f(ly))\" x2=\"\(f(legendX + 20))\" y2=\"\(f(ly))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(f(legendX + 26))\" y=\"\(f(ly + 4))\">\(escape(line.name))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    private func xTick(_ px: Double, _ label: String, top: Double, plotH: Double) -> String {
        "<line x1=\"\(f(px))\" y1=\"\(f(top + plotH))\" x2=\"\(f(px))\" y2=\"\(f(top))\" stroke=\"#eeeeee\"/>\n"
            + "<text x=\"\(f(px))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(label)</text>\n"
    }

    private func f(_ value: Double) -> String { fixed(value, 1) }

    private func sizeLabel(_ exponent: Int) -> String {
        switch exponent {
        case ..<10: return "\(1 << exponent)"
        case 10..<20: return "\(1 << (exponent - 10))K"
        case 20..<30: return "\(1 << (exponent - 20))M"
        default: return "\(1 << (exponent - 30))G"
        }
    }

    private func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        var step = 1.0
        while step * 10 < value { step *= 10 }
        while step > value { step /= 10 }
        for multiple in [1.0, 2, 2.5, 5, 10] where step * multiple >= value { return step * multiple }
        return step * 10
    }

    private func escape(_ text: String) -> String {
        text.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;")
    }
}

private func log2(_ value: Double) -> Double {
    // Without Foundation: log2 by frexp-like decomposition is overkill here; use the C library.
    cLog2(value)
}

extension String {
    fileprivate func replacingAll(_ target: Character, _ replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}

private func cLog2(_ value: Double) -> Double { CMath.log2(value) }
