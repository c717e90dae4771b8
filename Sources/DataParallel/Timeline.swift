/// Spans of time per rank, written as a Chrome trace (`chrome://tracing`, Perfetto).
public struct Timeline: Sendable {
    /// One span: what, on which thread of the rank (0 compute, 1 communication), from when
    /// (microseconds since the timeline started) and for how long.
    public struct Span: Sendable {
        public var name: String
        public var thread: Int
        public var start: Double
        public var duration: Double
    }

    public private(set) var spans: [Span] = []
    /// Monotonic nanoseconds at the start; spans are relative to it.
    public let origin: UInt64
    public var isRecording: Bool

    public init(origin: UInt64, isRecording: Bool) {
        self.origin = origin
        self.isRecording = isRecording
    }

    public mutating func record(_ name: String, thread: Int = 0, from start: UInt64, to end: UInt64) {
        guard isRecording else { return }
        spans.append(Span(name: name, thread: thread, start: Double(Int64(start) - Int64(origin)) / 1000,
                          duration: Double(end &- start) / 1000))
    }

    /// Encodes spans as numbers, for sending to another rank: name index, thread, start, duration.
    public func encoded(names: [String]) -> [Double] {
        spans.flatMap { span in [Double(names.firstIndex(of: span.name) ?? 0), Double(span.thread), span.start, span.duration] }
    }

    /// The Chrome trace JSON for every rank's spans (`byRank[r]`).
    public static func chromeTrace(byRank: [[Span]]) -> String {
        var events: [String] = []
        for (rank, spans) in byRank.enumerated() {
            events.append(#"{"name":"process_name","ph":"M","pid":\#(rank),"args":{"name":"rank \#(rank)"}}"#)
            events.append(#"{"name":"thread_name","ph":"M","pid":\#(rank),"tid":0,"args":{"name":"compute"}}"#)
            events.append(#"{"name":"thread_name","ph":"M","pid":\#(rank),"tid":1,"args":{"name":"communication"}}"#)
            for span in spans {
                let name = span.name.replacingQuotes()
                events.append(#"{"name":"\#(name)","ph":"X","pid":\#(rank),"tid":\#(span.thread),"ts":\#(span.start),"dur":\#(span.duration)}"#)
            }
        }
        return "{\"traceEvents\":[\n" + events.joined(separator: ",\n") + "\n],\"displayTimeUnit\":\"ms\"}\n"
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        String(map { $0 == "\"" || $0 == "\\" ? "'" : $0 })
    }
}
