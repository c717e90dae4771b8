/// Expands Slurm's compressed host lists, such as `node[01-04,07],login1` or `r[1-2]n[1-3]`.
///
/// Commas inside brackets separate ranges; commas outside separate host expressions; a
/// range keeps the zero padding of its first bound (`[01-03]` gives `01`, `02`, `03`).
package enum SlurmNodeList {
    /// Every host name in `list`, in order; `nil` when the list is malformed.
    package static func expand(_ list: String) -> [String]? {
        var hosts: [String] = []
        guard let expressions = splitTopLevel(list) else { return nil }
        for expression in expressions {
            guard !expression.isEmpty, let expanded = expandOne(Substring(expression)) else { return nil }
            hosts += expanded
        }
        return hosts.isEmpty ? nil : hosts
    }

    /// The first host of `list` without expanding the rest.
    package static func firstHost(_ list: String) -> String? {
        expand(list)?.first
    }

    private static func splitTopLevel(_ list: String) -> [String]? {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for character in list {
            switch character {
            case "[": depth += 1; current.append(character)
            case "]":
                depth -= 1
                if depth < 0 { return nil }
                current.append(character)
            case "," where depth == 0:
                parts.append(current)
                current = ""
            default: current.append(character)
            }
        }
        if depth != 0 { return nil }
        parts.append(current)
        return parts
    }

    private static func expandOne(_ expression: Substring) -> [String]? {
        guard let open = expression.firstIndex(of: "[") else {
            return expression.contains("]") ? nil : [String(expression)]
        }
        guard let close = expression[open...].firstIndex(of: "]") else { return nil }
        let prefix = String(expression[..<open])
        let body = expression[expression.index(after: open)..<close]
        guard let rest = expandOne(expression[expression.index(after: close)...]) else { return nil }
        var values: [String] = []
        for range in body.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = range.split(separator: "-", omittingEmptySubsequences: false)
            guard let lowText = bounds.first, !lowText.isEmpty, lowText.allSatisfy(\.isNumber),
                  let low = Int(lowText) else { return nil }
            switch bounds.count {
            case 1:
                values.append(String(lowText))
            case 2:
                guard let high = Int(bounds[1]), bounds[1].allSatisfy(\.isNumber), high >= low,
                      high - low < 1_000_000 else { return nil }
                let width = lowText.count
                for value in low...high {
                    let digits = String(value)
                    values.append(String(repeating: "0", count: max(0, width - digits.count)) + digits)
                }
            default:
                return nil
            }
        }
        return values.flatMap { value in rest.map { prefix + value + $0 } }
    }
}

/// Slurm's tasks-per-node lists (`SLURM_STEP_TASKS_PER_NODE`, `SLURM_TASKS_PER_NODE`): counts
/// in node order, a count repeated as `count(xN)`: `4(x2),3` is 4, 4, 3.
package enum SlurmTasksPerNode {
    /// The counts, one per node; `nil` for malformed text.
    package static func expand(_ text: String) -> [Int]? {
        var counts: [Int] = []
        for item in text.split(separator: ",") {
            let trimmed = item.filter { $0 != " " }
            if let open = trimmed.firstIndex(of: "(") {
                guard trimmed.hasSuffix(")"), let count = Int(trimmed[..<open]) else { return nil }
                let inner = trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]
                guard inner.hasPrefix("x"), let times = Int(inner.dropFirst()), times > 0, times <= 1 << 20 else { return nil }
                counts += Array(repeating: count, count: times)
            } else {
                guard let count = Int(trimmed) else { return nil }
                counts.append(count)
            }
        }
        return counts.isEmpty ? nil : counts
    }
}
