import CommandLineSupport
import FoundationEssentials

/// One timed run of one collective at one size.
struct Measurement {
    var seconds: Double
    var algbw: Double
    var busbw: Double
    /// Wrong elements over all ranks, or nil when not checked.
    var wrong: Int?
}

/// One line of results: a size, and its measurements out of place and in place (or, when
/// sweeping, one per algorithm).
struct ResultRow {
    var collective: String
    var algorithm: String
    var bytes: Int
    var count: Int
    var type: String
    var op: String
    var root: Int
    var outOfPlace: Measurement?
    var inPlace: Measurement?
}

/// The nccl-tests table and the machine-readable forms.
enum BenchReport {
    static func tableHeader(probe: Bool) -> [String] {
        let group = pad("time", 10) + pad("algbw", 8) + pad("busbw", 8) + pad("#wrong", 7)
        let units = pad("(us)", 10) + pad("(GB/s)", 8) + pad("(GB/s)", 8) + pad("", 7)
        let link = probe ? pad("link", 7) : ""
        return [
            "#" + pad("", 12) + pad("", 13) + pad("", 9) + pad("", 8) + pad("", 6) + pad("out-of-place", 33) + pad("in-place", 33),
            "#" + pad("size", 12) + pad("count", 13) + pad("type", 9) + pad("redop", 8) + pad("root", 6) + group + group + link,
            "#" + pad("(B)", 12) + pad("(elements)", 13) + pad("", 9) + pad("", 8) + pad("", 6) + units + units + (probe ? pad("(%)", 7) : ""),
        ]
    }

    static func tableRow(_ row: ResultRow, linkBytesPerSecond: Double?) -> String {
        func group(_ m: Measurement?) -> String {
            guard let m else { return pad("-", 10) + pad("-", 8) + pad("-", 8) + pad("-", 7) }
            return pad(fixed(m.seconds * 1e6, 2), 10) + pad(fixed(m.algbw, 2), 8) + pad(fixed(m.busbw, 2), 8)
                + pad(m.wrong.map(String.init) ?? "N/A", 7)
        }
        var line = " " + pad(String(row.bytes), 12) + pad(String(row.count), 13) + pad(row.type, 9) + pad(row.op, 8)
            + pad(String(row.root), 6) + group(row.outOfPlace) + group(row.inPlace)
        if let link = linkBytesPerSecond, let best = [row.outOfPlace?.busbw, row.inPlace?.busbw].compactMap({ $0 }).max() {
            line += pad(fixed(100 * best * 1e9 / link, 1), 7)
        }
        return line
    }

    static let csvHeader = "collective,algorithm,placement,size_bytes,count,type,redop,root,time_us,algbw_gbps,busbw_gbps,wrong"

    static func csvLines(_ row: ResultRow) -> [String] {
        [("out-of-place", row.outOfPlace), ("in-place", row.inPlace)].compactMap { placement, m in
            guard let m else { return nil }
            return [row.collective, row.algorithm, placement, String(row.bytes), String(row.count), row.type, row.op, String(row.root),
                    fixed(m.seconds * 1e6, 3), fixed(m.algbw, 4), fixed(m.busbw, 4), m.wrong.map(String.init) ?? ""].joined(separator: ",")
        }
    }

    /// The results as JSON: the run's context as top-level strings, the probe if one ran, and
    /// one entry per size and placement (`wrong` absent when results were not checked).
    static func json(_ rows: [ResultRow], context: [(String, String)], probe: LinkProbe?) throws -> String {
        var results: [BenchDocument.Entry] = []
        for row in rows {
            for (placement, m) in [("out-of-place", row.outOfPlace), ("in-place", row.inPlace)] {
                guard let m else { continue }
                results.append(BenchDocument.Entry(
                    collective: row.collective, algorithm: row.algorithm, placement: placement, size_bytes: row.bytes, count: row.count,
                    type: row.type, redop: row.op, root: row.root, time_us: m.seconds * 1e6, algbw_gbps: m.algbw, busbw_gbps: m.busbw,
                    wrong: m.wrong))
            }
        }
        let document = BenchDocument(
            context: context,
            probe: probe.map { BenchDocument.Probe(latency_us: $0.latencySeconds * 1e6, link_gbps: $0.bytesPerSecond / 1e9, message_bytes: $0.largeBytes) },
            results: results)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(document), as: UTF8.self) + "\n"
    }
}

/// The benchmark's JSON document. Field names are the CSV's column names.
struct BenchDocument: Encodable {
    var context: [(String, String)]
    var probe: Probe?
    var results: [Entry]

    struct Probe: Encodable {
        var latency_us: Double
        var link_gbps: Double
        var message_bytes: Int
    }

    struct Entry: Encodable {
        var collective: String
        var algorithm: String
        var placement: String
        var size_bytes: Int
        var count: Int
        var type: String
        var redop: String
        var root: Int
        var time_us: Double
        var algbw_gbps: Double
        var busbw_gbps: Double
        var wrong: Int?
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, value) in context { try container.encode(value, forKey: Key(name)) }
        try container.encodeIfPresent(probe, forKey: Key("probe"))
        try container.encode(results, forKey: Key("results"))
    }
}
