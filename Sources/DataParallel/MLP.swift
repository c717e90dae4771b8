import CollectivesSystem
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
    /// Examples one forward pass may take.
    package let batchCapacity: Int
    /// Independent sets of activations: a pipeline stage keeps one per micro-batch in flight,
    /// so each micro-batch's backward finds its own forward's activations.
    package let slots: Int
    /// Whether the last layer's output goes through a ReLU too (a pipeline stage before the
    /// last, whose output is the next stage's hidden activations).
    package let reluOnOutput: Bool
    /// Per slot, activations per layer boundary (`capacity × size`); `[slot][0]` is the input.
    private let activations: [[UnsafeMutablePointer<Float>]]
    /// Per slot, the gradient with respect to each boundary's activations.
    private let deltas: [[UnsafeMutablePointer<Float>]]
    private var batch: [Int]

    public var layerCount: Int { layerSizes.count - 1 }
    public var parameterCount: Int { parameters.count }

    /// The number of parameters of layer `l` (weights and biases).
    public func parameterCount(layer l: Int) -> Int { layerSizes[l + 1] * layerSizes[l] + layerSizes[l + 1] }

    /// Makes a model for batches of at most `batchCapacity` examples, initialised from `seed`
    /// (He-uniform weights, zero biases), with `slots` sets of activations (see ``slots``).
    public init(layerSizes: [Int], batchCapacity: Int, seed: UInt64, slots: Int = 1, reluOnOutput: Bool = false) {
        precondition(layerSizes.count >= 2 && layerSizes.allSatisfy { $0 > 0 } && slots >= 1)
        self.layerSizes = layerSizes
        self.batchCapacity = max(1, batchCapacity)
        self.slots = slots
        self.reluOnOutput = reluOnOutput
        batch = Array(repeating: 0, count: slots)
        let (offsets, total) = Self.layout(layerSizes: layerSizes)
        self.offsets = offsets
        parameters = .allocate(capacity: total)
        gradients = .allocate(capacity: total)
        parameters.initialize(repeating: 0)
        gradients.initialize(repeating: 0)
        let capacity = max(1, batchCapacity)
        activations = (0..<slots).map { _ in layerSizes.map { UnsafeMutablePointer<Float>.allocate(capacity: $0 * capacity) } }
        deltas = (0..<slots).map { _ in layerSizes.map { UnsafeMutablePointer<Float>.allocate(capacity: $0 * capacity) } }
        Self.drawInitialWeights(layerSizes: layerSizes, seed: seed, layers: 0..<(layerSizes.count - 1)) { l, weights in
            _ = UnsafeMutableBufferPointer(start: self.weights(l), count: weights.count).update(fromContentsOf: weights)
        }
    }

    /// Where each layer's parameters start in the flat buffer (last layer first), and how many
    /// parameters there are in all.
    static func layout(layerSizes: [Int]) -> (offsets: [Int], total: Int) {
        var offsets = [Int](repeating: 0, count: layerSizes.count - 1)
        var total = 0
        for l in stride(from: layerSizes.count - 2, through: 0, by: -1) {
            offsets[l] = total
            total += layerSizes[l + 1] * layerSizes[l] + layerSizes[l + 1]
        }
        return (offsets, total)
    }

    /// The initial weights of a model of `layerSizes` from `seed` (He-uniform), handed layer by
    /// layer to `body` for the layers in `layers`: the values ``init(layerSizes:batchCapacity:seed:slots:reluOnOutput:)``
    /// draws, without holding the whole model (a pipeline stage takes only its layers').
    static func drawInitialWeights(layerSizes: [Int], seed: UInt64, layers: Range<Int>, _ body: (Int, [Float]) -> Void) {
        var generator = SeededGenerator(seed: seed)
        for l in 0..<layers.upperBound {
            let fanIn = layerSizes[l]
            let limit = (6 / Float(fanIn)).squareRoot()
            let count = layerSizes[l + 1] * fanIn
            if layers.contains(l) {
                body(l, (0..<count).map { _ in Float.random(in: -limit...limit, using: &generator) })
            } else {
                for _ in 0..<count { _ = Float.random(in: -limit...limit, using: &generator) }
            }
        }
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
        for p in activations.joined() { p.deallocate() }
        for p in deltas.joined() { p.deallocate() }
    }

    func weights(_ l: Int) -> UnsafeMutablePointer<Float> { parameters.baseAddress! + offsets[l] }
    func biases(_ l: Int) -> UnsafeMutablePointer<Float> { weights(l) + layerSizes[l + 1] * layerSizes[l] }
    func weightGradients(_ l: Int) -> UnsafeMutablePointer<Float> { gradients.baseAddress! + offsets[l] }
    func biasGradients(_ l: Int) -> UnsafeMutablePointer<Float> { weightGradients(l) + layerSizes[l + 1] * layerSizes[l] }

    /// Runs the network on `count` examples (`features` holds `count × inputs` values; it may be
    /// ``input(slot:)`` itself) and returns the output buffer (`count × outputs`: the logits, or
    /// the ReLU of the last layer with ``reluOnOutput``), valid until the slot's next forward.
    @discardableResult
    public func forward(_ features: UnsafePointer<Float>, count: Int, slot: Int = 0) -> UnsafeMutablePointer<Float> {
        precondition(count <= batchCapacity, "batch of \(count) exceeds the capacity \(batchCapacity)")
        let activations = self.activations[slot]
        batch[slot] = count
        if UnsafePointer(activations[0]) != features { activations[0].update(from: features, count: count * layerSizes[0]) }
        guard count > 0 else { return activations[layerCount] }
        for l in 0..<layerCount {
            let inputs = layerSizes[l], outputs = layerSizes[l + 1]
            let x = activations[l], y = activations[l + 1]
            // y = x · Wᵀ + b
            let b = biases(l)
            for row in 0..<count { (y + row * outputs).update(from: b, count: outputs) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(outputs), Int32(inputs),
                        1, x, Int32(inputs), weights(l), Int32(inputs), 1, y, Int32(outputs))
            if l < layerCount - 1 || reluOnOutput {
                for i in 0..<(count * outputs) where y[i] < 0 { y[i] = 0 }
            }
        }
        return activations[layerCount]
    }

    /// Softmax cross-entropy of the last forward pass against `labels`: returns the summed loss
    /// and the number of correct predictions, and leaves d(loss)/d(logits) ready for backward.
    public func loss(labels: UnsafePointer<Int32>, slot: Int = 0) -> (loss: Double, correct: Int) {
        let classes = layerSizes[layerCount]
        let logits = activations[slot][layerCount], delta = deltas[slot][layerCount]
        var total = 0.0, correct = 0
        for row in 0..<batch[slot] {
            let z = logits + row * classes, d = delta + row * classes
            var best = 0
            var largest = z[0]
            for c in 1..<classes where z[c] > largest { largest = z[c]; best = c }
            var sum: Float = 0
            for c in 0..<classes {
                let e = CMath.exp(z[c] - largest)
                d[c] = e
                sum += e
            }
            let label = Int(labels[row])
            for c in 0..<classes { d[c] /= sum }
            total -= Double(CMath.log(max(d[label], 1e-30)))
            d[label] -= 1
            if best == label { correct += 1 }
        }
        return (total, correct)
    }

    /// Back-propagates the slot's last ``loss(labels:slot:)`` (or the gradient a later pipeline
    /// stage put in ``outputGradient(slot:)``) into ``gradients``, last layer first, calling
    /// `layerDone(l)` as soon as layer `l`'s gradients are final: the hook where a data-parallel
    /// trainer starts communicating them. `accumulating` adds to the gradients already there
    /// (gradient accumulation, micro-batches) instead of overwriting them. With
    /// `inputGradient`, the gradient with respect to the input, through the ReLU that made it,
    /// is left in ``inputGradient(slot:)`` for the stage before.
    public func backward(slot: Int = 0, accumulating: Bool = false, inputGradient: Bool = false, layerDone: (Int) -> Void = { _ in }) {
        let activations = self.activations[slot], deltas = self.deltas[slot], batch = self.batch[slot]
        let beta: Float = accumulating ? 1 : 0
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let inputs = layerSizes[l], outputs = layerSizes[l + 1]
            let dy = deltas[l + 1], x = activations[l]
            let dw = weightGradients(l), db = biasGradients(l)
            if batch == 0 {
                if !accumulating {
                    dw.update(repeating: 0, count: outputs * inputs)
                    db.update(repeating: 0, count: outputs)
                }
                layerDone(l)
                continue
            }
            // dW = dYᵀ · X, db = Σ rows of dY
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outputs), Int32(inputs), Int32(batch),
                        1, dy, Int32(outputs), x, Int32(inputs), beta, dw, Int32(inputs))
            if !accumulating { db.update(repeating: 0, count: outputs) }
            for row in 0..<batch {
                let r = dy + row * outputs
                for o in 0..<outputs { db[o] += r[o] }
            }
            if l > 0 || inputGradient {
                // dX = dY · W, through the ReLU of layer l − 1's output (or the stage before's).
                let dx = deltas[l]
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(inputs), Int32(outputs),
                            1, dy, Int32(outputs), weights(l), Int32(inputs), 0, dx, Int32(inputs))
                for i in 0..<(batch * inputs) where x[i] <= 0 { dx[i] = 0 }
            }
            layerDone(l)
        }
    }

    /// The slot's input buffer (`batchCapacity × inputs`): a pipeline stage receives the stage
    /// before's output straight into it and passes it to ``forward(_:count:slot:)``.
    package func input(slot: Int) -> UnsafeMutablePointer<Float> { activations[slot][0] }

    /// Where a pipeline stage before the last puts the gradient with respect to its output
    /// (`count × outputs`, from the next stage) before ``backward(slot:accumulating:inputGradient:layerDone:)``.
    package func outputGradient(slot: Int) -> UnsafeMutablePointer<Float> { deltas[slot][layerCount] }

    /// The gradient with respect to the slot's input after a backward with `inputGradient`.
    package func inputGradient(slot: Int) -> UnsafeMutablePointer<Float> { deltas[slot][0] }

    /// Predicted classes for `count` examples (the logits' largest class).
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

