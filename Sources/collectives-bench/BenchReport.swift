import CommandLineSupport

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
            return pad(fixed(m.seconds * 1e6, 1), 10) + pad(fixed(m.algbw, 2), 8) + pad(fixed(m.busbw, 2), 8)
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

    static func json(_ rows: [ResultRow], context: [(String, String)], probe: LinkProbe?) -> String {
        func quoted(_ text: String) -> String {
            var out = "\""
            for c in text.unicodeScalars {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default: out.unicodeScalars.append(c)
                }
            }
            return out + "\""
        }
        var text = "{\n"
        for (key, value) in context { text += "  \(quoted(key)): \(quoted(value)),\n" }
        if let probe {
            text += "  \"probe\": {\"latency_us\": \(fixed(probe.latencySeconds * 1e6, 3)), \"link_gbps\": \(fixed(probe.bytesPerSecond / 1e9, 4)), \"message_bytes\": \(probe.largeBytes)},\n"
        }
        text += "  \"results\": [\n"
        var entries: [String] = []
        for row in rows {
            for (placement, m) in [("out-of-place", row.outOfPlace), ("in-place", row.inPlace)] {
                guard let m else { continue }
                entries.append("    {\"collective\": \(quoted(row.collective)), \"algorithm\": \(quoted(row.algorithm)), \"placement\": \(quoted(placement)), "
                    + "\"size_bytes\": \(row.bytes), \"count\": \(row.count), \"type\": \(quoted(row.type)), \"redop\": \(quoted(row.op)), \"root\": \(row.root), "
                    + "\"time_us\": \(fixed(m.seconds * 1e6, 3)), \"algbw_gbps\": \(fixed(m.algbw, 4)), \"busbw_gbps\": \(fixed(m.busbw, 4)), "
                    + "\"wrong\": \(m.wrong.map(String.init) ?? "null")}")
            }
        }
        text += entries.joined(separator: ",\n") + "\n  ]\n}\n"
        return text
    }
}
