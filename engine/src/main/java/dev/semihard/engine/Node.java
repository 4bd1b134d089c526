package dev.semihard.engine;

import java.util.List;

/**
 * One recorded operation of the autodiff graph: the tensor it produced, its inputs, and how to
 * push the output's gradient back to the inputs. Ops create nodes through
 * {@link Tensor#record(String, List, Backward)}; {@link Tensor#backward()} walks them in reverse
 * topological order.
 */
public final class Node {
    /** Back-propagates {@code gradOut} (the gradient of the node's output) into the inputs' gradients. */
    @FunctionalInterface
    public interface Backward {
        void apply(Tensor gradOut);
    }

    final String op;
    final List<Tensor> inputs;
    final Backward backward;

    Node(String op, List<Tensor> inputs, Backward backward) {
        this.op = op;
        this.inputs = inputs;
        this.backward = backward;
    }

    public String op() { return op; }
    public List<Tensor> inputs() { return inputs; }
}
