/// The byte stream the ring transports carry: frames one after another, each its header
/// (``FrameHeader``) then its payload, laid into a ring at stream positions taken modulo the
/// ring's size. Shared memory and RDMA verbs both write and read frames through this; they
/// differ only in how each end learns of bytes and of space (counters in the shared segment;
/// write immediates and credits).
enum RingStream {
    /// Writes `bytes` of `frame`'s stream, from where the frame has got to (``Frame/done``), into
    /// `ring` (`capacity` bytes of data) at stream position `position`, across the ring's end.
    /// `payload` is what follows the header: the frame's buffer, or a single-copy descriptor.
    @inline(__always)
    static func write(_ frame: Frame, payload: UnsafeRawPointer?, bytes: Int, into ring: UnsafeMutableRawPointer, capacity: UInt64,
                      at position: UInt64) {
        var position = position, done = frame.done, left = bytes
        var header = frame.outgoingHeader
        while left > 0 {
            let offset = Int(position % capacity)
            let room = Swift.min(left, Int(capacity) - offset)
            let target = ring + offset
            let n: Int
            if done < Frame.headerBytes {
                n = Swift.min(room, Frame.headerBytes - done)
                withUnsafeBytes(of: &header) { target.copyMemory(from: $0.baseAddress! + done, byteCount: n) }
            } else {
                n = room
                target.copyMemory(from: payload! + (done - Frame.headerBytes), byteCount: n)
            }
            position += UInt64(n)
            done += n
            left -= n
        }
    }

    /// Reads up to `bytes` of `frame`'s stream from `ring` (`capacity` bytes of data) at stream
    /// position `position`, across the ring's end, into the frame's header, then its buffer (or,
    /// for a single-copy frame, its descriptor). Stops where the header ends, so that the header
    /// is checked before any payload lands. Returns the bytes read; advances ``Frame/done``.
    @inline(__always)
    static func read(into frame: inout Frame, singleCopy: Bool, bytes: Int, from ring: UnsafeRawPointer, capacity: UInt64,
                     at position: UInt64) -> Int {
        var position = position, left = bytes
        while left > 0 {
            let offset = Int(position % capacity)
            let room = Swift.min(left, Int(capacity) - offset)
            let source = ring + offset
            let n: Int
            if frame.done < Frame.headerBytes {
                n = Swift.min(room, Frame.headerBytes - frame.done)
                let done = frame.done
                withUnsafeMutableBytes(of: &frame.header) { $0.baseAddress!.advanced(by: done).copyMemory(from: source, byteCount: n) }
            } else {
                n = room
                if singleCopy {
                    let done = frame.done - Frame.headerBytes
                    withUnsafeMutableBytes(of: &frame.descriptor) { $0.baseAddress!.advanced(by: done).copyMemory(from: source, byteCount: n) }
                } else {
                    frame.base!.advanced(by: frame.done - Frame.headerBytes).copyMemory(from: source, byteCount: n)
                }
            }
            position += UInt64(n)
            frame.done += n
            left -= n
            if frame.done == Frame.headerBytes { break }
        }
        return bytes - left
    }
}
