import Collectives

extension Timeline {
    /// Every rank's spans, gathered on rank 0 of `communicator` (the others get an empty list).
    /// `names` lists every span name any rank may have recorded, the same on every rank: spans
    /// travel as numbers, a name as its index in the list.
    package func gathered(names: [String], on communicator: Communicator) throws(CollectivesError) -> [[Span]] {
        let all = try communicator.gatherVariable(encoded(names: names), root: 0)
        return all.map { (values: [Double]) -> [Span] in
            var spans: [Span] = []
            for i in stride(from: 0, to: values.count - 3, by: 4) {
                let name = names[min(names.count - 1, Int(values[i]))]
                spans.append(Span(name: name, thread: Int(values[i + 1]), start: values[i + 2], duration: values[i + 3]))
            }
            return spans
        }
    }
}
