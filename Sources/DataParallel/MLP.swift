import COpenBLAS

/// A multi-layer perceptron: dense layers with ReLU between them and a softmax cross-entropy
/// loss, forward and backward on OpenBLAS.
///
/// All parameters live in one flat buffer and all gradients in another, laid out **last layer
/// first**, so that the gradients backward finishes first form the first contiguous bucket.
/// Layer *l* holds its weights (`outputs × inputs`, row-major) then its biases.
public final class MLP: @unchecked Sendable {
    /// Sizes from input to output, for example `[784, 256, 128, 10]`.
    public let layerSizes: [Int]
    /// Every parameter, `parameterCount` floats.
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// Gradients, the same layout as ``parameters``: after ``backward(labels:count:layerDone:)`` the
    /// sum (not the mean) over the batch of each example's gradient.
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// Where layer *l*'s weights start in the flat buffers.
    public let offsets: [Int]
    private let capacity: Int
    /// Activations per layer boundary (`capacity × size`); `activations[0]` is the input.
    private let activations: [UnsafeMutablePointer<Float>]
    /// Gradient with respect to each boundary's activations.
    private let deltas: [UnsafeMutablePointer<Float>]
    private var batch = 0

    public var layerCount: Int { layerSizes.count - 1 }
    public var parameterCount: Int { parameters.count }

    /// The number of parameters of layer `l` (weights and biases).
    public func parameterCount(layer l: Int) -> Int { layerSizes[l + 1] * layerSizes[l] + layerSizes[l + 1] }

    /// Makes a model for batches of at most `batchCapacity` examples, initialised from `seed`
    /// (He-uniform weights, zero biases).
    public init(layerSizes: [Int], batchCapacity: Int, seed: UInt64) {
        precondition(layerSizes.count >= 2 && layerSizes.allSatisfy { $0 > 0 })
        self.layerSizes = layerSizes
        capacity = max(1, batchCapacity)
        var offsets = [Int](repeating: 0, count: layerSizes.count - 1)
        var total = 0
        for l in stride(from: layerSizes.count - 2, through: 0, by: -1) {
            offsets[l] = total
            total += layerSizes[l + 1] * layerSizes[l] + layerSizes[l + 1]
        }
        self.offsets = offsets
        parameters = .allocate(capacity: total)
        gradients = .allocate(capacity: total)
        parameters.initialize(repeating: 0)
        gradients.initialize(repeating: 0)
        activations = layerSizes.map { UnsafeMutablePointer<Float>.allocate(capacity: $0 * max(1, batchCapacity)) }
        deltas = layerSizes.map { UnsafeMutablePointer<Float>.allocate(capacity: $0 * max(1, batchCapacity)) }
        var generator = SeededGenerator(seed: seed)
        for l in 0..<(layerSizes.count - 1) {
            let fanIn = layerSizes[l]
            let limit = (6 / Float(fanIn)).squareRoot()
            let w = weights(l)
            for i in 0..<(layerSizes[l + 1] * fanIn) { w[i] = Float.random(in: -limit...limit, using: &generator) }
        }
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
        for p in activations { p.deallocate() }
        for p in deltas { p.deallocate() }
    }

    func weights(_ l: Int) -> UnsafeMutablePointer<Float> { parameters.baseAddress! + offsets[l] }
    func biases(_ l: Int) -> UnsafeMutablePointer<Float> { weights(l) + layerSizes[l + 1] * layerSizes[l] }
    func weightGradients(_ l: Int) -> UnsafeMutablePointer<Float> { gradients.baseAddress! + offsets[l] }
    func biasGradients(_ l: Int) -> UnsafeMutablePointer<Float> { weightGradients(l) + layerSizes[l + 1] * layerSizes[l] }

    /// Runs the network on `count` examples (`features` holds `count × inputs` values) and
    /// returns the logits buffer (`count × outputs`), valid until the next call.
    @discardableResult
    public func forward(_ features: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        precondition(count <= capacity, "batch of \(count) exceeds the capacity \(capacity)")
        batch = count
        activations[0].update(from: features, count: count * layerSizes[0])
        guard count > 0 else { return activations[layerCount] }
        for l in 0..<layerCount {
            let inputs = layerSizes[l], outputs = layerSizes[l + 1]
            let x = activations[l], y = activations[l + 1]
            // y = x · Wᵀ + b
            let b = biases(l)
            for row in 0..<count { (y + row * outputs).update(from: b, count: outputs) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(outputs), Int32(inputs),
                        1, x, Int32(inputs), weights(l), Int32(inputs), 1, y, Int32(outputs))
            if l < layerCount - 1 {
                for i in 0..<(count * outputs) where y[i] < 0 { y[i] = 0 }
            }
        }
        return activations[layerCount]
    }

    /// Softmax cross-entropy of the last forward pass against `labels`: returns the summed loss
    /// and the number of correct predictions, and leaves d(loss)/d(logits) ready for backward.
    public func loss(labels: UnsafePointer<Int32>) -> (loss: Double, correct: Int) {
        let classes = layerSizes[layerCount]
        let logits = activations[layerCount], delta = deltas[layerCount]
        var total = 0.0, correct = 0
        for row in 0..<batch {
            let z = logits + row * classes, d = delta + row * classes
            var best = 0
            var largest = z[0]
            for c in 1..<classes where z[c] > largest { largest = z[c]; best = c }
            var sum: Float = 0
            for c in 0..<classes {
                let e = expf(z[c] - largest)
                d[c] = e
                sum += e
            }
            let label = Int(labels[row])
            for c in 0..<classes { d[c] /= sum }
            total -= Double(logf(max(d[label], 1e-30)))
            d[label] -= 1
            if best == label { correct += 1 }
        }
        return (total, correct)
    }

    /// Back-propagates the last ``loss(labels:)`` into ``gradients`` (overwriting them), last
    /// layer first, calling `layerDone(l)` as soon as layer `l`'s gradients are final: the hook
    /// where a data-parallel trainer starts communicating them.
    public func backward(layerDone: (Int) -> Void = { _ in }) {
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let inputs = layerSizes[l], outputs = layerSizes[l + 1]
            let dy = deltas[l + 1], x = activations[l]
            let dw = weightGradients(l), db = biasGradients(l)
            if batch == 0 {
                dw.update(repeating: 0, count: outputs * inputs)
                db.update(repeating: 0, count: outputs)
                layerDone(l)
                continue
            }
            // dW = dYᵀ · X, db = Σ rows of dY
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outputs), Int32(inputs), Int32(batch),
                        1, dy, Int32(outputs), x, Int32(inputs), 0, dw, Int32(inputs))
            db.update(repeating: 0, count: outputs)
            for row in 0..<batch {
                let r = dy + row * outputs
                for o in 0..<outputs { db[o] += r[o] }
            }
            if l > 0 {
                // dX = dY · W, through the ReLU of layer l − 1's output.
                let dx = deltas[l]
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(inputs), Int32(outputs),
                            1, dy, Int32(outputs), weights(l), Int32(inputs), 0, dx, Int32(inputs))
                for i in 0..<(batch * inputs) where x[i] <= 0 { dx[i] = 0 }
            }
            layerDone(l)
        }
    }

    /// Predicted classes for `count` examples.
    public func predict(_ features: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Int32>) {
        let logits = forward(features, count: count)
        let classes = layerSizes[layerCount]
        for row in 0..<count {
            let z = logits + row * classes
            var best = 0
            for c in 1..<classes where z[c] > z[best] { best = c }
            output[row] = Int32(best)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
