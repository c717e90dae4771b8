import Collectives
import Testing

/// Timeouts as `Duration`, kept in step with the seconds that `COLLECTIVES_TIMEOUT` sets.
@Suite struct OptionsTests {
    @Test func timeoutsAreDurations() {
        var options = CommunicatorOptions()
        #expect(options.timeout == .seconds(300))
        options.timeout = .milliseconds(1500)
        #expect(options.timeoutSeconds == 1.5)
        options.timeoutSeconds = 1e10
        #expect(options.timeout > .seconds(1_000_000_000))
        var configuration = LaunchConfiguration(rank: 0, worldSize: 2)
        configuration.timeout = .seconds(42)
        #expect(configuration.timeoutSeconds == 42 && configuration.timeout == .seconds(42))
        var tcp = CommunicatorOptions().tcp
        #expect(tcp.connectTimeout == .seconds(15) && tcp.helloTimeout == .seconds(5) && tcp.livenessTimeout == .seconds(10))
        tcp.connectTimeout = .milliseconds(2500)
        tcp.livenessTimeout = .zero
        tcp.helloTimeout = .seconds(1)
        #expect(tcp.connectTimeoutSeconds == 2.5 && tcp.livenessTimeoutSeconds == 0 && tcp.helloTimeoutSeconds == 1)
    }
}
