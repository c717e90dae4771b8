import CollectivesSystem
import CommandLineSupport

extension RankGroup {
    /// What the wait for the ranks has seen and scheduled so far.
    private struct WaitState {
        var firstFailure: RankFailure?
        /// When the flight-recorder dumps asked for by `SIGUSR1` are analysed.
        var analysisDue: Deadline?
        var analyzeAtEnd = false
        /// When the remaining ranks get `SIGTERM` (a moment after the first failure).
        var terminateDeadline: Deadline?
        /// When the remaining ranks get `SIGKILL`.
        var killDeadline: Deadline?
        /// Once every rank has ended, when to stop reading what they left behind.
        var drainDeadline: Deadline?
    }

    /// Relays output and reaps ranks until all have ended. Returns the first failure, if any.
    /// With ``flight``, a `SIGUSR1` to the launcher reaches every rank and the dumps are
    /// analysed two seconds later; with its `onFailure`, so does the first failure, and the
    /// dumps are analysed once every rank has ended.
    func waitForAll() -> RankFailure? {
        var state = WaitState()
        defer { if state.analyzeAtEnd { flight?.analyze() } }
        var pollSet = PollSet()
        var readBuffer = [UInt8](repeating: 0, count: 65536)
        while ranks.contains(where: \.running) || outputs.contains(where: \.open) {
            if drainIsOver(&state) { break }
            handleRequests(&state)
            reapEndedRanks(&state)
            enforceDeadlines(&state)
            relayOutput(&pollSet, &readBuffer)
        }
        return state.firstFailure
    }

    /// Once every rank has ended, reads what is left for a moment, then stops the processes
    /// they left behind holding the pipes. Returns whether the wait is over.
    private func drainIsOver(_ state: inout WaitState) -> Bool {
        guard !ranks.contains(where: \.running) else { return false }
        let deadline = state.drainDeadline ?? .after(seconds: 1)
        state.drainDeadline = deadline
        guard deadline.hasPassed else { return false }
        terminateAll(signal: .kill)
        for index in outputs.indices where outputs[index].open {
            flush(index)
            closeOutput(index)
        }
        return true
    }

    /// A stop asked for by the user, and flight recorders asked for with `SIGUSR1`.
    private func handleRequests(_ state: inout WaitState) {
        let requested = stopSignal.exchange(0, ordering: .relaxed)
        if requested != 0 {
            if state.firstFailure == nil {
                state.firstFailure = RankFailure(rank: -1, status: 1, signal: requested, stoppedByLauncher: true)
            }
            terminateAll()
            state.killDeadline = state.killDeadline ?? .after(seconds: grace)
        }
        if dumpRequest.exchange(false, ordering: .relaxed) {
            signalRanks(.flightRecorderRequest)
            state.analysisDue = .after(seconds: 2)
        }
        if let due = state.analysisDue, due.hasPassed {
            state.analysisDue = nil
            flight?.analyze()
        }
    }

    /// Notes the ranks that ended; the first that failed starts the stop of the others (unless
    /// the job is elastic).
    private func reapEndedRanks(_ state: inout WaitState) {
        for index in ranks.indices where ranks[index].running {
            guard let status = ranks[index].process.exitStatus() else { continue }
            ranks[index].running = false
            closeInput(index)
            guard !status.isSuccess else { continue }
            let failure = RankFailure(rank: ranks[index].rank, ended: status, host: ranks[index].host)
            failures.append(failure)
            if elastic {
                // The others go on without it; say so now, while they do.
                Console.error("collectives-run: --elastic: \(failure.elasticDescription)")
            } else if state.firstFailure == nil {
                state.firstFailure = failure
                if flight?.onFailure == true {
                    // The others' flight recorders, while they are still there.
                    signalRanks(.flightRecorderRequest)
                    state.analyzeAtEnd = true
                }
                // The others will see the failure and report it in their own words: give
                // them a moment before stopping them.
                state.terminateDeadline = .after(seconds: report)
            }
        }
    }

    /// `SIGTERM` once the others have had their moment, `SIGKILL` once their grace is over.
    private func enforceDeadlines(_ state: inout WaitState) {
        if let deadline = state.terminateDeadline, deadline.hasPassed {
            state.terminateDeadline = nil
            terminateAll()
            state.killDeadline = state.killDeadline ?? .after(seconds: grace)
        }
        if let deadline = state.killDeadline, deadline.hasPassed {
            terminateAll(signal: .kill)
            state.killDeadline = .after(seconds: 3600)
        }
    }

    /// Waits a little for output (at most 100 ms while ranks run, so that they are reaped) and
    /// relays what came.
    private func relayOutput(_ pollSet: inout PollSet, _ readBuffer: inout [UInt8]) {
        pollSet.removeAll()
        var indices: [Int] = []
        for (index, output) in outputs.enumerated() where output.open {
            pollSet.add(output.descriptor, waitingFor: .readable)
            indices.append(index)
        }
        let stillRunning = ranks.contains(where: \.running)
        if pollSet.count == 0 {
            if stillRunning { sleepSeconds(0.05) }
            return
        }
        // Ranks' pipes may stay open through their children: wake to reap them.
        pollSet.wait(timeoutNanoseconds: stillRunning ? 100_000_000 : 1_000_000_000)
        for slot in 0..<pollSet.count where !pollSet.found(at: slot).isEmpty {
            let index = indices[slot]
            let read = readBuffer.withUnsafeMutableBytes { try? Descriptors.readSome(outputs[index].descriptor, into: $0) }
            switch read {
            case .done(let count) where count > 0:
                relay(index, readBuffer[0..<count])
            case .wouldBlock:
                break
            default:
                // The end of the pipe, or an error on it.
                flush(index)
                closeOutput(index)
            }
        }
    }

    /// Emits every complete line; a segment ended by a carriage return (a progress bar
    /// redrawing itself) is emitted at once too, prefixed, so that it stays live.
    private func relay(_ index: Int, _ bytes: ArraySlice<UInt8>) {
        outputs[index].pending.append(contentsOf: bytes)
        while var end = outputs[index].pending.firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            // "\r\n" (as ssh ends its own messages) is one line end; wait for the byte after a
            // final "\r" to tell.
            if outputs[index].pending[end] == UInt8(ascii: "\r") {
                let next = outputs[index].pending.index(after: end)
                if next == outputs[index].pending.endIndex { break }
                if outputs[index].pending[next] == UInt8(ascii: "\n") { end = next }
            }
            var line = Array(outputs[index].pending[...end])
            outputs[index].pending.removeSubrange(...end)
            if line.count >= 2 && line[line.count - 2] == UInt8(ascii: "\r") && line.last == UInt8(ascii: "\n") {
                line.remove(at: line.count - 2)
            }
            emit(index, line)
        }
    }

    private func flush(_ index: Int) {
        if !outputs[index].pending.isEmpty {
            emit(index, outputs[index].pending + [UInt8(ascii: "\n")])
            outputs[index].pending.removeAll()
        }
    }

    private func emit(_ index: Int, _ line: [UInt8]) {
        let output = outputs[index]
        writeAll(output.toStandardError ? 2 : 1, prefixOutput ? Array("[\(label) \(output.rank)] ".utf8) + line : line)
        if output.file >= 0 { writeAll(output.file, line) }
    }

    /// Writes every byte; gives up silently on a closed output.
    private func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = Descriptors.writeAll(descriptor, $0) }
    }

    /// Closes an output's pipe, and its file.
    private func closeOutput(_ index: Int) {
        Descriptors.close(outputs[index].descriptor)
        outputs[index].open = false
        Descriptors.close(outputs[index].file)
        outputs[index].file = -1
    }
}
