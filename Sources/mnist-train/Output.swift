import CommandLineSupport
import DataParallel

#if canImport(Glibc)
import Glibc
#endif

/// A progress bar with an ETA on one terminal line, redrawn at most ten times a second.
final class ProgressBar {
    let enabled: Bool
    private var started: Double = 0
    private var lastDraw: Double = 0
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(epoch: Int, of epochs: Int, step: Int, steps: Int) {
        guard enabled else { return }
        let now = monotonicSeconds()
        if step == 1 { started = now }
        guard step == steps || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        let width = 30
        let filled = width * step / max(1, steps)
        let elapsed = now - started
        let eta = step > 0 ? elapsed / Double(step) * Double(steps - step) : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        // The carriage return ends the text, so that a launcher relaying the output can pass
        // each redraw on at once.
        Console.write("epoch \(epoch)/\(epochs) [\(bar)] \(step)/\(steps) ETA \(fixed(eta, 1)) s \r")
        drawn = true
    }

    func finish() {
        if drawn { Console.write(String(repeating: " ", count: 70) + "\r") }
        drawn = false
    }
}

/// The per-epoch metrics as CSV and as an SVG chart.
enum MetricsReport {
    static func csv(_ rows: [EpochReport], accuracies: [Double]) -> String {
        var text = "epoch,train_loss,test_accuracy,samples_per_second,communication_seconds,communication_overhead\n"
        for (row, accuracy) in zip(rows, accuracies) {
            text += "\(row.epoch),\(fixed(row.trainingLoss, 6)),\(fixed(accuracy, 6)),\(fixed(row.examplesPerSecond, 1)),"
                + "\(fixed(row.communicationSeconds, 4)),\(fixed(row.communicationOverhead, 6))\n"
        }
        return text
    }

    /// `metrics.csv` → `metrics.svg`.
    static func plotPath(for csv: String) -> String {
        (csv.hasSuffix(".csv") ? String(csv.dropLast(4)) : csv) + ".svg"
    }

    /// Loss (left axis) and test accuracy (right axis, 0–100 %) per epoch.
    static func svg(_ rows: [EpochReport], accuracies: [Double]) -> String {
        let w = 640.0, h = 360.0, left = 60.0, right = 60.0, top = 30.0, bottom = 40.0
        let plotW = w - left - right, plotH = h - top - bottom
        let epochs = max(1, rows.count)
        let maxLoss = max(1e-9, rows.map(\.trainingLoss).max() ?? 1)
        func x(_ i: Int) -> Double { left + (epochs == 1 ? plotW / 2 : plotW * Double(i) / Double(epochs - 1)) }
        func yLoss(_ v: Double) -> Double { top + plotH * (1 - v / maxLoss) }
        func yAcc(_ v: Double) -> Double { top + plotH * (1 - v) }
        let loss = rows.enumerated().map { "\(fixed(x($0.offset), 1)),\(fixed(yLoss($0.element.trainingLoss), 1))" }.joined(separator: " ")
        let acc = accuracies.enumerated().map { "\(fixed(x($0.offset), 1)),\(fixed(yAcc($0.element), 1))" }.joined(separator: " ")
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(w / 2))" y="18" text-anchor="middle" font-size="14">Training loss and test accuracy per epoch</text>
        <line x1="\(left)" y1="\(top + plotH)" x2="\(left + plotW)" y2="\(top + plotH)" stroke="black"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(top + plotH)" stroke="#1f77b4"/>
        <line x1="\(left + plotW)" y1="\(top)" x2="\(left + plotW)" y2="\(top + plotH)" stroke="#d62728"/>
        <text x="\(Int(w / 2))" y="\(Int(h - 8))" text-anchor="middle">epoch</text>
        <text x="14" y="\(Int(top + plotH / 2))" transform="rotate(-90 14 \(Int(top + plotH / 2)))" text-anchor="middle" fill="#1f77b4">training loss</text>
        <text x="\(Int(w - 14))" y="\(Int(top + plotH / 2))" transform="rotate(90 \(Int(w - 14)) \(Int(top + plotH / 2)))" text-anchor="middle" fill="#d62728">test accuracy (%)</text>

        """
        for i in 0..<epochs {
            svg += "<text x=\"\(fixed(x(i), 1))\" y=\"\(Int(top + plotH + 16))\" text-anchor=\"middle\">\(i + 1)</text>\n"
        }
        for k in 0...4 {
            let v = Double(k) / 4
            svg += "<text x=\"\(Int(left - 6))\" y=\"\(fixed(yLoss(v * maxLoss) + 4, 1))\" text-anchor=\"end\" fill=\"#1f77b4\">\(fixed(v * maxLoss, 2))</text>\n"
            svg += "<text x=\"\(Int(left + plotW + 6))\" y=\"\(fixed(yAcc(v) + 4, 1))\" fill=\"#d62728\">\(Int(v * 100))</text>\n"
        }
        svg += "<polyline points=\"\(loss)\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n"
        svg += "<polyline points=\"\(acc)\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n"
        svg += "</svg>\n"
        return svg
    }
}
