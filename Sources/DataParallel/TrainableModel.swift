/// What ``DataParallelTrainer`` needs of a model: its parameters and gradients as flat `Float`
/// buffers laid out layer by layer, a backward pass that says when each layer's gradients are
/// final (so their bucket can travel while backward goes on), and a classifier's forward pass,
/// loss and prediction. ``MLP`` conforms; any model that can say these things can too.
public protocol TrainableModel: AnyObject {
    /// Every parameter, layer after layer (layer `l` starts at `offsets[l]`).
    var parameters: UnsafeMutableBufferPointer<Float> { get }
    /// The gradients of the last ``backward(layerDone:)``, laid out as ``parameters``: the sum
    /// over the batch's examples (the trainer divides by the global batch size).
    var gradients: UnsafeMutableBufferPointer<Float> { get }
    /// Where each layer's parameters start.
    var offsets: [Int] { get }
    /// How many layers there are.
    var layerCount: Int { get }
    /// How many parameters layer `layer` has.
    func parameterCount(layer: Int) -> Int
    /// Values per example the model reads.
    var inputWidth: Int { get }
    /// Runs the model on `count` examples (`features` holds `count × inputWidth` values).
    @discardableResult
    func forward(_ features: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float>
    /// The summed loss and the number of correct predictions of the last forward pass.
    func loss(labels: UnsafePointer<Int32>) -> (loss: Double, correct: Int)
    /// Computes the gradients of the last forward pass's loss, calling `layerDone(l)` as soon as
    /// layer `l`'s are final (last layer first). `accumulating` adds them to the gradients
    /// already there instead of replacing them (gradient accumulation over micro-steps).
    func backward(accumulating: Bool, layerDone: (Int) -> Void)
    /// The predicted class of each of `count` examples.
    func predict(_ features: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Int32>)
}

extension TrainableModel {
    /// Every parameter of every layer.
    public var parameterCount: Int { parameters.count }
}

extension TrainableModel {
    /// Replaces the gradients with the last forward pass's.
    public func backward(layerDone: (Int) -> Void) { backward(accumulating: false, layerDone: layerDone) }
}

extension MLP: TrainableModel {
    public var inputWidth: Int { layerSizes[0] }

    @discardableResult
    public func forward(_ features: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        forward(features, count: count, slot: 0)
    }

    public func loss(labels: UnsafePointer<Int32>) -> (loss: Double, correct: Int) { loss(labels: labels, slot: 0) }

    public func backward(accumulating: Bool, layerDone: (Int) -> Void) {
        backward(slot: 0, accumulating: accumulating, inputGradient: false, layerDone: layerDone)
    }
}
