import CollectivesSystem
import CommandLineSupport
import DataParallel


/// A progress bar with an ETA on one terminal line, redrawn at most ten times a second.
final class ProgressBar {
    let enabled: Bool
    private var started: Double = 0
    private var lastDraw: Double = 0
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(epoch: Int, of epochs: Int, step: Int, steps: Int) {
        guard enabled else { return }
        let now = Double(MonotonicClock.nanoseconds) / 1e9
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
        let loss = rows.enumerated().map { (Double($0.offset + 1), $0.element.trainingLoss) }
        let accuracy = accuracies.enumerated().map { (Double($0.offset + 1), $0.element * 100) }
        return SVGChart(title: "Training loss and test accuracy per epoch", xLabel: "epoch", yLabel: "training loss",
                        series: [SVGChart.Series(name: "training loss", points: loss),
                                 SVGChart.Series(name: "test accuracy", points: accuracy, onRightAxis: true)],
                        xScale: .steps, rightAxis: ("test accuracy (%)", 100)).render()
    }
}
