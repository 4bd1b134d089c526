package dev.semihard.engine.util;

import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/** Runs a list of tasks on a pool and waits for all of them: the one join of the Java backends' parallel loops. */
public final class Tasks {
    private Tasks() {}

    /**
     * Runs {@code tasks} on {@code pool} and waits; a task's RuntimeException or Error is rethrown as it is
     * (any other cause wrapped), an interrupt restores the flag and fails naming {@code who}.
     */
    public static void invokeAll(ExecutorService pool, List<Callable<Void>> tasks, String who) {
        try {
            for (Future<Void> f : pool.invokeAll(tasks)) f.get();
        } catch (ExecutionException ex) {
            Throwable cause = ex.getCause();
            if (cause instanceof RuntimeException re) throw re;
            if (cause instanceof Error er) throw er;
            throw new IllegalStateException(cause);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(who + ": interrupted", ex);
        }
    }
}
