import FoundationEssentials

/// Spans of time per rank, written as a Chrome trace (`chrome://tracing`, Perfetto).
public struct Timeline: Sendable {
    /// One span: what, on which thread of the rank (0 compute, 1 communication), from when
    /// (microseconds since the timeline started) and for how long.
    public struct Span: Sendable {
        public var name: String
        public var thread: Int
        public var start: Double
        public var duration: Double

        public init(name: String, thread: Int, start: Double, duration: Double) {
            self.name = name
            self.thread = thread
            self.start = start
            self.duration = duration
        }
    }

    public private(set) var spans: [Span] = []
    /// Monotonic nanoseconds at the start; spans are relative to it.
    package let origin: UInt64
    package var isRecording: Bool

    package init(origin: UInt64, isRecording: Bool) {
        self.origin = origin
        self.isRecording = isRecording
    }

    package mutating func record(_ name: String, thread: Int = 0, from start: UInt64, to end: UInt64) {
        guard isRecording else { return }
        spans.append(Span(name: name, thread: thread, start: Double(Int64(start) - Int64(origin)) / 1000,
                          duration: Double(end &- start) / 1000))
    }

    /// Encodes spans as numbers, for sending to another rank: name index, thread, start, duration.
    package func encoded(names: [String]) -> [Double] {
        spans.flatMap { span in [Double(names.firstIndex(of: span.name) ?? 0), Double(span.thread), span.start, span.duration] }
    }

    /// The Chrome trace JSON for every rank's spans (`byRank[r]`): one process per rank (named
    /// by `labels`, else "rank r"), with a compute and a communication thread.
    public static func chromeTrace(byRank: [[Span]], labels: [String]? = nil) throws -> String {
        var events: [TraceEvent] = []
        for (rank, spans) in byRank.enumerated() {
            let label = labels.flatMap { rank < $0.count ? $0[rank] : nil } ?? "rank \(rank)"
            events.append(TraceEvent(name: "process_name", ph: "M", pid: rank, args: ["name": label]))
            events.append(TraceEvent(name: "thread_name", ph: "M", pid: rank, tid: 0, args: ["name": "compute"]))
            events.append(TraceEvent(name: "thread_name", ph: "M", pid: rank, tid: 1, args: ["name": "communication"]))
            for span in spans {
                events.append(TraceEvent(name: span.name, ph: "X", pid: rank, tid: span.thread, ts: span.start, dur: span.duration))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: try encoder.encode(ChromeTrace(traceEvents: events)), as: UTF8.self) + "\n"
    }
}

/// The Chrome trace format's document (its JSON object form).
package struct ChromeTrace: Codable, Sendable {
    package var traceEvents: [TraceEvent]
    package var displayTimeUnit = "ms"
}

/// One event of a Chrome trace: a complete span (`"X"`) or a metadata record (`"M"`).
package struct TraceEvent: Codable, Sendable {
    package var name: String
    package var ph: String
    package var pid: Int
    package var tid: Int?
    package var ts: Double?
    package var dur: Double?
    package var args: [String: String]?

    package init(name: String, ph: String, pid: Int, tid: Int? = nil, ts: Double? = nil, dur: Double? = nil, args: [String: String]? = nil) {
        self.name = name
        self.ph = ph
        self.pid = pid
        self.tid = tid
        self.ts = ts
        self.dur = dur
        self.args = args
    }
}
