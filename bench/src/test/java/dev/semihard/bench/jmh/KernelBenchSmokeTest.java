package dev.semihard.bench.jmh;

import dev.semihard.engine.backend.Backend;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.opentest4j.TestAbortedException;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each JMH benchmark is set up correctly: with the reference backend and a tiny shape, its setup
 * runs, each {@code @Benchmark} method runs once, its work model gives positive rates, and the
 * teardown releases every buffer. JMH itself never runs here (that takes minutes, not seconds).
 */
class KernelBenchSmokeTest {
    static final List<Class<? extends KernelBench>> BENCHES = List.of(MemoryBench.class, ElementwiseBench.class,
            ConvBench.class, PoolBench.class, BatchNormBench.class, LinearBench.class, EmbeddingBench.class,
            TripletBench.class, OptimizerBench.class);

    /** Tiny values of the size parameters, so one invocation takes microseconds on the reference backend. */
    static final Map<String, String> TINY = Map.of("floats", "1000", "pk", "3x2", "backend", "reference");
    static final Map<Class<?>, String> TINY_SHAPE = Map.of(ConvBench.class, "2x3x5x5x4", PoolBench.class, "2x3x6x6",
            BatchNormBench.class, "2x3x4x4", LinearBench.class, "4x6x5", EmbeddingBench.class, "6x4");

    @TestFactory
    List<DynamicTest> everyBenchmarkRunsOnceOnTheReferenceBackend() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Class<? extends KernelBench> cls : BENCHES) {
            for (Method m : benchmarkMethods(cls)) {
                tests.add(DynamicTest.dynamicTest(cls.getSimpleName() + "." + m.getName(), () -> runOnce(cls, m)));
            }
        }
        return tests;
    }

    private static void runOnce(Class<? extends KernelBench> cls, Method m) throws Exception {
        KernelBench b = cls.getDeclaredConstructor().newInstance();
        Map<String, String> params = new LinkedHashMap<>();
        for (Field f : cls.getFields()) {
            Param p = f.getAnnotation(Param.class);
            if (p == null) continue;
            String v = f.getName().equals("shape") ? TINY_SHAPE.get(cls) : TINY.getOrDefault(f.getName(), p.value()[0]);
            f.set(b, v);
            params.put(f.getName(), v);
        }
        invoke(b, Setup.class);
        try {
            assertNotNull(b.be, "setup opened no backend");
            assertEquals("reference", b.be.name());
            try {
                m.invoke(b);
            } catch (InvocationTargetException e) {
                if (e.getCause() instanceof UnsupportedOperationException u)
                    throw new TestAbortedException("kernel not implemented yet on the reference backend: " + u.getMessage());
                throw e;
            }
            assertTrue(b.be.bytesInUse() > 0, "the benchmark allocated nothing");
            Work w = KernelBenchMain.work(cls.getName(), m.getName(), params);
            assertNotNull(w, cls.getSimpleName() + " has no work model for " + m.getName());
            assertTrue(w.bytes() > 0 && w.gbytes(1.0) > 0, "work model gives no bytes: " + w);
            assertTrue(w.flops() >= 0, "negative flops: " + w);
        } finally {
            Backend be = b.be;
            invoke(b, TearDown.class);
            if (be != null) assertEquals(0, be.bytesInUse(), "teardown left buffers allocated");
        }
    }

    /** Every kernel of the Backend interface has a benchmark method of the same name. */
    @Test
    void everyBackendKernelHasABenchmark() {
        Set<String> notKernels = Set.of("name", "deviceDescription", "precision", "allocate", "allocateUninitialized", "synchronize", "bytesInUse",
                "peakBytes", "close");
        Set<String> kernels = new TreeSet<>();
        for (Method m : Backend.class.getMethods())
            if (!Modifier.isStatic(m.getModifiers()) && !notKernels.contains(m.getName())) kernels.add(m.getName());
        Set<String> benched = new TreeSet<>();
        for (Class<? extends KernelBench> cls : BENCHES) for (Method m : benchmarkMethods(cls)) benched.add(m.getName());
        Set<String> missing = new TreeSet<>(kernels);
        missing.removeAll(benched);
        assertTrue(missing.isEmpty(), "Backend kernels without a JMH benchmark: " + missing);
        assertTrue(kernels.size() >= 30, "found only " + kernels.size() + " kernels: " + kernels);
    }

    private static List<Method> benchmarkMethods(Class<?> cls) {
        List<Method> out = new ArrayList<>();
        for (Method m : cls.getDeclaredMethods()) if (m.isAnnotationPresent(Benchmark.class)) out.add(m);
        out.sort((a, c) -> a.getName().compareTo(c.getName()));
        return out;
    }

    private static void invoke(Object o, Class<? extends java.lang.annotation.Annotation> ann) throws Exception {
        for (Method m : o.getClass().getDeclaredMethods()) if (m.isAnnotationPresent(ann)) m.invoke(o);
    }
}
