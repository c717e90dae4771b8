/// Stochastic gradient descent with momentum and weight decay (PyTorch's formulation):
/// `v ← μ·v + (g + λ·p)`, `p ← p − η·v`.
public struct SGD: Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float

    public init(learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }
}

/// The optimizer's state (one velocity per parameter).
package final class SGDState: @unchecked Sendable {
    let velocity: UnsafeMutableBufferPointer<Float>

    package init(count: Int) {
        velocity = .allocate(capacity: count)
        velocity.initialize(repeating: 0)
    }

    deinit { velocity.deallocate() }

    /// Applies one step of `sgd` to `parameters` with `gradients`, scaled by `gradientScale`
    /// (1 / examples in the global batch, turning summed gradients into their mean).
    package func step(_ sgd: SGD, parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>,
                     gradientScale: Float) {
        let p = parameters.baseAddress!, g = gradients.baseAddress!, v = velocity.baseAddress!
        let mu = sgd.momentum, lambda = sgd.weightDecay, eta = sgd.learningRate
        for i in 0..<parameters.count {
            let grad = g[i] * gradientScale + lambda * p[i]
            let velocity = mu * v[i] + grad
            v[i] = velocity
            p[i] -= eta * velocity
        }
    }
}
