package dev.semihard.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Scope for the device memory of one step: every tensor created while an arena is open
 * (activations, gradients of activations, temporaries) is closed when the arena closes,
 * unless {@link Tensor#detachFromArena()} took it out. Parameters and optimizer state are
 * created outside any arena and live until closed explicitly.
 *
 * <pre>
 *   try (Arena step = Arena.open()) {
 *       Tensor emb = model.forward(x);
 *       ...
 *   } // every buffer of this step goes back to the backend (its caching allocator on CUDA)
 * </pre>
 *
 * Arenas nest per thread; a tensor belongs to the innermost open arena.
 */
public final class Arena implements AutoCloseable {
    private static final ThreadLocal<Deque<Arena>> STACK = ThreadLocal.withInitial(ArrayDeque::new);
    private final List<AutoCloseable> owned = new ArrayList<>();
    private boolean closed;

    private Arena() {}

    public static Arena open() {
        Arena a = new Arena();
        STACK.get().push(a);
        return a;
    }

    /** The innermost open arena of this thread, or null. */
    public static Arena current() {
        return STACK.get().peek();
    }

    void register(AutoCloseable c) { owned.add(c); }

    boolean remove(AutoCloseable c) { return owned.remove(c); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Deque<Arena> s = STACK.get();
        s.remove(this);
        for (int i = owned.size() - 1; i >= 0; i--) {
            try { owned.get(i).close(); } catch (Exception e) { throw new IllegalStateException(e); }
        }
        owned.clear();
    }
}
