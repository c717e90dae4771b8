extension Duration {
    /// This duration in seconds.
    package var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// `seconds` as a duration: zero for none or fewer, about 292 years at most.
    package init(seconds: Double) {
        self = seconds > 0 ? .nanoseconds(Int64(Swift.min(seconds * 1e9, 9.2e18))) : .zero
    }
}
