import DataParallel
import FoundationEssentials
import Testing

/// The Chrome trace is valid JSON whatever the span names hold (quotes, backslashes, control
/// characters, non-ASCII), and reads back as written.
@Suite struct TimelineTests {
    @Test func traceNamesRoundTrip() throws {
        let names = ["plain", "a \"quoted\" name", "back\\slash", "tab\tnew\nline\u{1}", "π ✓"]
        let spans = names.enumerated().map { Timeline.Span(name: $1, thread: $0 % 2, start: Double($0), duration: 0.5) }
        let text = try Timeline.chromeTrace(byRank: [spans, []])
        struct Trace: Decodable {
            struct Event: Decodable { var name: String; var ph: String; var pid: Int; var tid: Int?; var ts: Double? }
            var traceEvents: [Event]
        }
        let trace = try JSONDecoder().decode(Trace.self, from: Data(text.utf8))
        #expect(trace.traceEvents.filter { $0.ph == "X" }.map(\.name) == names)
        #expect(trace.traceEvents.filter { $0.ph == "M" }.count == 6)
    }
}
