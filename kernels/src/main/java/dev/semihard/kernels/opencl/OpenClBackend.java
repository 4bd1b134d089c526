package dev.semihard.kernels.opencl;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.BackendOptions;
import dev.semihard.engine.backend.Buffer;
import dev.semihard.engine.backend.ConvGeometry;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.backend.KernelProfile;
import dev.semihard.engine.backend.OptimizerParams;
import dev.semihard.engine.backend.PoolGeometry;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.lwjgl.opencl.CL10.*;

/**
 * <b>The OpenCL backend</b>: every {@link Backend} kernel as OpenCL C 1.2, through LWJGL 3.
 *
 * <p>Kernels live in {@code .cl} files next to this class on the class path
 * ({@code dev/semihard/kernels/opencl/*.cl}); they are concatenated into one program, built once per
 * device context and cached for the life of the JVM (every backend on that device shares it; each
 * backend has its own command queue and kernel objects). Kernel names are the {@link Backend} method
 * names ({@code conv2dForward}, {@code tripletLoss...}); the {@code .cl} files say what each version
 * does and why.
 *
 * <p>Memory: a caching allocator keeps released buffers in per-size free lists, so a training step
 * allocates nothing from the driver after the first; scratch buffers (padded inputs, split-K partials,
 * the triplet loss's B x B matrices) and index tables are per backend and grow as needed.
 * {@link #bytesInUse()} counts live buffers plus scratch and tables (not the free lists), so
 * {@link #peakBytes()} shows e.g. the triplet loss's O(B^2) working memory. Every kernel is deterministic:
 * no float atomics, fixed reduction orders, so training on OpenCL is reproducible.
 *
 * <p>The queue is in order; only {@link #download}, {@link #sumSquares} and {@link #synchronize} wait.
 * Methods are synchronized: kernel objects hold their arguments, so one backend is used by one thread
 * at a time.
 *
 * <p>With {@link KernelProfile#requested profiling on} the queue is created with
 * {@code CL_QUEUE_PROFILING_ENABLE} and every launch's event is kept until the profile is read
 * ({@link OpenClKernelProfile}); off (the default), launches ask for no event.
 */
public final class OpenClBackend implements Backend, KernelProfile {
    /** Kernel sources, concatenated in this order (triplet.cl uses embed.cl's helpers). */
    static final String[] SOURCES = {"gemm.cl", "conv.cl", "elementwise.cl", "pool.cl", "batchnorm.cl", "embed.cl",
            "triplet.cl", "optim.cl"};
    private static final String BUILD_OPTIONS = "-cl-std=CL1.2";
    private static final int GEMM_TN = 64, GEMM_WG = 8;
    /** Work-group size of the one-work-item-per-element kernels: 256, or the device maximum if lower (a power of two). */
    private final int ewLocal;

    /** One context and built program per device, shared by every backend on it. */
    private static final Map<Long, long[]> CONTEXTS = new HashMap<>();

    private final OpenClRuntime.DeviceInfo info;
    private final long context, program, queue;
    private final Map<String, Long> kernels = new HashMap<>();
    private final Map<Long, ArrayDeque<Long>> freeLists = new HashMap<>();
    private final Map<String, ClMem> scratch = new HashMap<>();
    private final Map<String, ClMem> tables = new HashMap<>();
    /** Per-kernel device times, or null when profiling is off. */
    private final OpenClKernelProfile profile;
    private long bytesInUse, peakBytes, pooledBytes;
    private FloatBuffer staging;
    private ClBuffer dummy;
    private boolean closed;

    /** A raw cl_mem owned by the backend (scratch, tables), not a {@link Buffer}. */
    private record ClMem(long mem, long bytes) {}

    /** Marks a kernel argument of local memory of the given size in bytes. */
    private record Local(long bytes) {}

    /**
     * Creates a backend on the device {@code options} selects (see {@link OpenClBackendProvider}).
     *
     * @throws IllegalArgumentException when the device or platform asked for does not exist
     * @throws IllegalStateException    when OpenCL fails (the message names the call and the error; build
     *                                  failures include the compiler log)
     */
    public OpenClBackend(BackendOptions options) {
        BackendOptions o = options == null ? BackendOptions.defaults() : options;
        OpenClRuntime.ensureLoaderName();
        List<OpenClRuntime.DeviceInfo> devices = OpenClRuntime.devicesOrThrow();
        this.info = OpenClRuntime.select(devices, o.extra().get("opencl.platform"), o.device());
        long[] ctx = contextFor(info);
        this.context = ctx[0];
        this.program = ctx[1];
        try (MemoryStack st = MemoryStack.stackPush()) {
            IntBuffer err = st.mallocInt(1);
            this.profile = KernelProfile.requested(o) ? new OpenClKernelProfile() : null;
            this.queue = clCreateCommandQueue(context, info.device(), profile == null ? 0 : CL_QUEUE_PROFILING_ENABLE, err);
            OpenClRuntime.check(err.get(0), "clCreateCommandQueue");
        }
        long maxWg = OpenClRuntime.deviceLong(info.device(), CL_DEVICE_MAX_WORK_GROUP_SIZE);
        if (maxWg < 256)
            throw new IllegalStateException("opencl: device " + deviceName() + " allows work-groups of only " + maxWg
                    + " work-items; the kernels need 256");
        this.ewLocal = 256;
        this.dummy = (ClBuffer) allocate(1);
    }

    /** The device this backend runs on. */
    public String deviceName() { return info.name().trim(); }

    /** Compiles {@code source} on this backend's device (tests: build errors carry the compiler log). */
    void compileForTest(String source) {
        clReleaseProgram(buildProgram(context, info.device(), new String[]{source}));
    }

    private static long[] contextFor(OpenClRuntime.DeviceInfo info) {
        synchronized (CONTEXTS) {
            long[] c = CONTEXTS.get(info.device());
            if (c != null) return c;
            long context;
            try (MemoryStack st = MemoryStack.stackPush()) {
                IntBuffer err = st.mallocInt(1);
                PointerBuffer props = st.mallocPointer(3);
                props.put(CL_CONTEXT_PLATFORM).put(info.platform()).put(0).flip();
                context = clCreateContext(props, info.device(), null, 0, err);
                JvmSignalHandlers.restore();
                OpenClRuntime.check(err.get(0), "clCreateContext");
            }
            long program = buildProgram(context, info.device());
            c = new long[]{context, program};
            CONTEXTS.put(info.device(), c);
            return c;
        }
    }

    /** Loads every .cl source from the class path; the text of all of them, in {@link #SOURCES} order. */
    static String[] loadSources() {
        String[] out = new String[SOURCES.length];
        for (int i = 0; i < SOURCES.length; i++) {
            String path = "/dev/semihard/kernels/opencl/" + SOURCES[i];
            try (InputStream in = OpenClBackend.class.getResourceAsStream(path)) {
                if (in == null) throw new IllegalStateException("OpenCL kernel source " + path + " is missing from the class path");
                out[i] = "#line 1 \"" + SOURCES[i] + "\"\n" + new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new IllegalStateException("cannot read OpenCL kernel source " + path + ": " + e, e);
            }
        }
        return out;
    }

    private static long buildProgram(long context, long device) {
        return buildProgram(context, device, loadSources());
    }

    /**
     * Builds {@code sources} for one device.
     *
     * @throws IllegalStateException with the compiler's log when the build fails
     */
    static long buildProgram(long context, long device, String[] sources) {
        try (MemoryStack st = MemoryStack.stackPush()) {
            IntBuffer err = st.mallocInt(1);
            long program = clCreateProgramWithSource(context, sources, err);
            OpenClRuntime.check(err.get(0), "clCreateProgramWithSource");
            String options = BUILD_OPTIONS + " " + System.getProperty("semihard.opencl.buildOptions", "");
            int rc = clBuildProgram(program, device, options.trim(), null, 0);
            JvmSignalHandlers.restore(); // the compiler may register its crash handlers (see JvmSignalHandlers)
            if (rc != CL_SUCCESS) {
                String log = buildLog(program, device);
                throw new IllegalStateException("OpenCL: building the kernels (" + String.join(", ", SOURCES) + ") failed with "
                        + OpenClRuntime.errorName(rc) + "; compiler log:\n" + log);
            }
            return program;
        }
    }

    private static String buildLog(long program, long device) {
        try (MemoryStack st = MemoryStack.stackPush()) {
            PointerBuffer size = st.mallocPointer(1);
            clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, (ByteBuffer) null, size);
            ByteBuffer buf = MemoryUtil.memAlloc((int) Math.max(1, size.get(0)));
            try {
                clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, buf, null);
                byte[] b = new byte[buf.remaining()];
                buf.get(b);
                return new String(b, StandardCharsets.UTF_8).trim();
            } finally {
                MemoryUtil.memFree(buf);
            }
        }
    }

    // ------------------------------------------------------------------ identity and memory

    @Override public String name() { return "opencl"; }

    @Override public String deviceDescription() { return info.describe(); }

    /** A float32 device buffer of this backend. */
    final class ClBuffer implements Buffer {
        final long mem;
        final long size;
        private boolean released;

        ClBuffer(long mem, long size) { this.mem = mem; this.size = size; }

        @Override public long size() { return size; }

        @Override public Backend backend() { return OpenClBackend.this; }

        @Override
        public void close() {
            synchronized (OpenClBackend.this) {
                if (released) return;
                released = true;
                release(this);
            }
        }

        @Override public String toString() { return "ClBuffer[" + size + " floats]"; }
    }

    @Override
    public synchronized Buffer allocate(long floats) {
        Buffer b = allocateUninitialized(floats);
        if (floats > 0) fillMem(((ClBuffer) b).mem, 0, floats, 0f);
        return b;
    }

    /** From the free lists like {@link #allocate}, without the zero-fill kernel. */
    @Override
    public synchronized Buffer allocateUninitialized(long floats) {
        ensureOpen();
        if (floats < 0) throw new IllegalArgumentException("opencl: cannot allocate " + floats + " floats");
        long bytes = Math.max(1, floats) * 4L;
        ArrayDeque<Long> free = freeLists.get(bytes);
        long mem;
        if (free != null && !free.isEmpty()) {
            mem = free.pop();
            pooledBytes -= bytes;
        } else {
            mem = createMem(bytes);
        }
        ClBuffer b = new ClBuffer(mem, floats);
        track(bytes);
        return b;
    }

    private void track(long bytes) {
        bytesInUse += bytes;
        peakBytes = Math.max(peakBytes, bytesInUse);
    }

    private long createMem(long bytes) {
        try (MemoryStack st = MemoryStack.stackPush()) {
            IntBuffer err = st.mallocInt(1);
            long mem = clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, err);
            if (err.get(0) == CL_MEM_OBJECT_ALLOCATION_FAILURE || err.get(0) == CL_OUT_OF_RESOURCES
                    || err.get(0) == CL_OUT_OF_HOST_MEMORY || err.get(0) == CL_INVALID_BUFFER_SIZE) {
                trimPool();
                mem = clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, err);
            }
            if (err.get(0) != CL_SUCCESS)
                throw new IllegalStateException("opencl: out of device memory allocating " + (bytes >> 20) + " MiB on "
                        + deviceName() + " (" + OpenClRuntime.errorName(err.get(0)) + ", " + (bytesInUse >> 20)
                        + " MiB in use); try a smaller batch or the two-pass mode");
            return mem;
        }
    }

    private synchronized void release(ClBuffer b) {
        if (closed) return;
        long bytes = Math.max(1, b.size) * 4L;
        bytesInUse -= bytes;
        freeLists.computeIfAbsent(bytes, k -> new ArrayDeque<>()).push(b.mem);
        pooledBytes += bytes;
    }

    /** Returns cached free buffers to the driver (after an allocation failure). */
    private void trimPool() {
        clFinish(queue);
        for (ArrayDeque<Long> q : freeLists.values()) for (long m : q) clReleaseMemObject(m);
        freeLists.clear();
        pooledBytes = 0;
    }

    private ClBuffer buf(Buffer b) {
        if (b == null) throw new IllegalArgumentException("opencl: null buffer");
        if (!(b instanceof ClBuffer cb) || b.backend() != this)
            throw new IllegalArgumentException("opencl: buffer " + b + " belongs to another backend (" + b.backend().name()
                    + "); tensors cannot be mixed across backends, copy through the host instead");
        if (cb.released) throw new IllegalStateException("opencl: buffer " + b + " was used after close()");
        return cb;
    }

    private FloatBuffer staging(int n) {
        if (staging == null || staging.capacity() < n) {
            if (staging != null) MemoryUtil.memFree(staging);
            staging = MemoryUtil.memAllocFloat(Math.max(n, 1 << 16));
        }
        staging.clear().limit(n);
        return staging;
    }

    @Override
    public synchronized void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n) {
        ensureOpen();
        if (n == 0) return;
        ClBuffer d = buf(dst);
        checkRange("upload", d, dstOff, n);
        FloatBuffer fb = staging(n);
        fb.put(src, srcOff, n).flip();
        OpenClRuntime.check(clEnqueueWriteBuffer(queue, d.mem, true, dstOff * 4, fb, null, null), "clEnqueueWriteBuffer");
    }

    @Override
    public synchronized void download(Buffer src, long srcOff, float[] dst, int dstOff, int n) {
        ensureOpen();
        if (n == 0) { clFinish(queue); return; }
        ClBuffer s = buf(src);
        checkRange("download", s, srcOff, n);
        FloatBuffer fb = staging(n);
        OpenClRuntime.check(clEnqueueReadBuffer(queue, s.mem, true, srcOff * 4, fb, null, null), "clEnqueueReadBuffer");
        fb.get(dst, dstOff, n);
    }

    @Override
    public synchronized void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) {
        ensureOpen();
        if (n == 0) return;
        ClBuffer s = buf(src), d = buf(dst);
        checkRange("copy", s, srcOff, n);
        checkRange("copy", d, dstOff, n);
        OpenClRuntime.check(clEnqueueCopyBuffer(queue, s.mem, d.mem, srcOff * 4, dstOff * 4, n * 4, null, null),
                "clEnqueueCopyBuffer");
    }

    @Override
    public synchronized void fill(Buffer dst, long off, long n, float value) {
        ensureOpen();
        ClBuffer d = buf(dst);
        checkRange("fill", d, off, n);
        if (n > 0) fillMem(d.mem, off, n, value);
    }

    private void fillMem(long mem, long off, long n, float value) {
        launch1("fill", n, mem(mem), off, n, value);
    }

    private static void checkRange(String op, ClBuffer b, long off, long n) {
        if (off < 0 || n < 0 || off + n > b.size)
            throw new IllegalArgumentException("opencl " + op + ": range [" + off + ", " + (off + n) + ") is outside a buffer of "
                    + b.size + " floats");
    }

    @Override
    public synchronized void synchronize() {
        ensureOpen();
        OpenClRuntime.check(clFinish(queue), "clFinish");
    }

    @Override public synchronized long bytesInUse() { return bytesInUse; }

    @Override public synchronized long peakBytes() { return peakBytes; }

    @Override
    public synchronized void close() {
        if (closed) return;
        clFinish(queue);
        closed = true;
        for (ArrayDeque<Long> q : freeLists.values()) for (long m : q) clReleaseMemObject(m);
        freeLists.clear();
        for (ClMem m : scratch.values()) clReleaseMemObject(m.mem());
        for (ClMem m : tables.values()) clReleaseMemObject(m.mem());
        scratch.clear();
        tables.clear();
        clReleaseMemObject(dummy.mem);
        for (long k : kernels.values()) clReleaseKernel(k);
        kernels.clear();
        if (profile != null) profile.close();
        clReleaseCommandQueue(queue);
        if (staging != null) MemoryUtil.memFree(staging);
        staging = null;
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("opencl: the backend was closed");
    }

    // ------------------------------------------------------------------ kernel profile (opt-in)

    @Override public boolean profiling() { return profile != null; }

    @Override
    public synchronized Map<String, KernelProfile.Stat> snapshot() {
        if (profile == null) return Map.of();
        ensureOpen();
        return profile.snapshot();
    }

    @Override
    public synchronized void reset() {
        if (profile == null) return;
        ensureOpen();
        profile.reset();
    }

    // ------------------------------------------------------------------ launching

    /** A raw cl_mem kernel argument. */
    private record Mem(long mem) {}

    private static Mem mem(long m) { return new Mem(m); }

    private Object arg(Buffer b) { return b == null ? mem(dummy.mem) : mem(buf(b).mem); }

    private long kernel(String name) {
        Long k = kernels.get(name);
        if (k != null) return k;
        try (MemoryStack st = MemoryStack.stackPush()) {
            IntBuffer err = st.mallocInt(1);
            long kk = clCreateKernel(program, name, err);
            OpenClRuntime.check(err.get(0), "clCreateKernel(" + name + ")");
            kernels.put(name, kk);
            return kk;
        }
    }

    /**
     * Enqueues kernel {@code name} on an NDRange: global sizes are rounded up to multiples of the local
     * sizes (local == null lets the driver choose; global sizes are then used as they are).
     */
    private void launch(String name, long[] global, long[] local, Object... args) {
        ensureOpen();
        long k = kernel(name);
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            int rc;
            if (a instanceof Mem m) rc = clSetKernelArg1p(k, i, m.mem());
            else if (a instanceof Integer v) rc = clSetKernelArg1i(k, i, v);
            else if (a instanceof Float v) rc = clSetKernelArg1f(k, i, v);
            else if (a instanceof Long v) rc = clSetKernelArg1l(k, i, v);
            else if (a instanceof Local l) rc = clSetKernelArg(k, i, l.bytes());
            else throw new IllegalArgumentException("opencl: unsupported kernel argument " + a);
            OpenClRuntime.check(rc, "clSetKernelArg(" + name + ", " + i + ")");
        }
        try (MemoryStack st = MemoryStack.stackPush()) {
            int dim = global.length;
            PointerBuffer g = st.mallocPointer(dim);
            PointerBuffer l = local == null ? null : st.mallocPointer(dim);
            for (int i = 0; i < dim; i++) {
                if (global[i] <= 0) return;   // empty range: nothing to do
                long gi = global[i];
                if (local != null) {
                    gi = (gi + local[i] - 1) / local[i] * local[i];
                    l.put(i, local[i]);
                }
                g.put(i, gi);
            }
            PointerBuffer event = profile == null ? null : st.mallocPointer(1);
            OpenClRuntime.check(clEnqueueNDRangeKernel(queue, k, dim, null, g, l, null, event), "clEnqueueNDRangeKernel(" + name + ")");
            if (event != null) profile.launched(name, event.get(0));
        }
    }

    /** One work-item per element, groups of {@link #ewLocal}. */
    private void launch1(String name, long n, Object... args) {
        if (n > 0) launch(name, new long[]{n}, new long[]{ewLocal}, args);
    }

    private void launchGemm(String name, int m, int n, int splits, Object... args) {
        launchGemmWy(name, m, n, splits, GEMM_WG, args);
    }

    /** A GEMM kernel on tiles of (wy * 8) x GEMM_TN: work-groups (8, wy[, 1]), one per tile (and split). */
    private void launchGemmWy(String name, int m, int n, int splits, int wy, Object... args) {
        long gx = (long) ceilDiv(n, GEMM_TN) * GEMM_WG, gy = (long) ceilDiv(m, wy * 8L) * wy;
        if (splits <= 1) launch(name, new long[]{gx, gy}, new long[]{GEMM_WG, wy}, args);
        else launch(name, new long[]{gx, gy, splits}, new long[]{GEMM_WG, wy, 1}, args);
    }

    private static int ceilDiv(long a, long b) { return (int) ((a + b - 1) / b); }

    /** A scratch buffer of at least {@code floats} floats, owned by the backend; contents undefined. */
    private long scratch(String key, long floats) {
        long bytes = Math.max(1, floats) * 4L;
        ClMem m = scratch.get(key);
        if (m == null || m.bytes() < bytes) {
            if (m != null) { clReleaseMemObject(m.mem()); bytesInUse -= m.bytes(); }
            m = new ClMem(createMem(bytes), bytes);
            scratch.put(key, m);
            track(bytes);
        }
        return m.mem();
    }

    /** A constant int table, built once per key and kept. */
    private long table(String key, java.util.function.Supplier<int[]> make) {
        ClMem m = tables.get(key);
        if (m == null) {
            int[] data = make.get();
            long bytes = Math.max(1, data.length) * 4L;
            long mem = createMem(bytes);
            if (data.length > 0) {
                IntBuffer ib = MemoryUtil.memAllocInt(data.length);
                try {
                    ib.put(data).flip();
                    OpenClRuntime.check(clEnqueueWriteBuffer(queue, mem, true, 0, ib, null, null), "clEnqueueWriteBuffer");
                } finally {
                    MemoryUtil.memFree(ib);
                }
            }
            m = new ClMem(mem, bytes);
            tables.put(key, m);
            track(bytes);
        }
        return m.mem();
    }

    private static int i32(long v, String what) {
        if (v < 0 || v > Integer.MAX_VALUE)
            throw new IllegalArgumentException("opencl: " + what + " = " + v + " exceeds the 2^31 elements the kernels index");
        return (int) v;
    }

    // ------------------------------------------------------------------ elementwise

    @Override public synchronized void axpy(long n, float alpha, Buffer x, Buffer y) { launch1("axpy", n, n, alpha, arg(x), arg(y)); }

    @Override public synchronized void scale(long n, float alpha, Buffer x) { launch1("scale", n, n, alpha, arg(x)); }

    @Override public synchronized void add(long n, Buffer a, Buffer b, Buffer y) { launch1("add", n, n, arg(a), arg(b), arg(y)); }

    @Override public synchronized void reluForward(long n, Buffer x, Buffer y) { launch1("reluForward", n, n, arg(x), arg(y)); }

    @Override
    public synchronized void reluBackward(long n, Buffer y, Buffer dy, Buffer dx) {
        launch1("reluBackward", n, n, arg(y), arg(dy), arg(dx));
    }

    @Override
    public synchronized void sumSquares(long n, Buffer x, float[] out) {
        sumSquaresMany(new long[]{n}, new Buffer[]{x}, out);
    }

    /** Every buffer's partials into one scratch array, one blocking read, the sums on the host in group order. */
    @Override
    public synchronized void sumSquaresMany(long[] ns, Buffer[] xs, float[] out) {
        Backend.checkSumSquaresMany(ns, xs, out);
        int[] groups = new int[xs.length];
        int total = 0;
        for (int i = 0; i < xs.length; i++) {
            groups[i] = ns[i] > 0 ? (int) Math.max(1, Math.min(64, (ns[i] + ewLocal - 1) / ewLocal)) : 0;
            total += groups[i];
        }
        long partial = scratch("sumSquares", 2L * total);
        int base = 0;
        for (int i = 0; i < xs.length; i++) {
            if (groups[i] > 0)
                launch("sumSquares", new long[]{(long) groups[i] * ewLocal}, new long[]{ewLocal}, ns[i], arg(xs[i]), mem(partial),
                        2 * base, new Local(2L * ewLocal * 4));
            base += groups[i];
        }
        FloatBuffer fb = total > 0 ? staging(2 * total) : null;
        if (total > 0) OpenClRuntime.check(clEnqueueReadBuffer(queue, partial, true, 0, fb, null, null), "clEnqueueReadBuffer");
        base = 0;
        for (int i = 0; i < xs.length; i++) {
            double sum = 0, bad = 0;
            for (int g = base; g < base + groups[i]; g++) { sum += fb.get(2 * g); bad += fb.get(2 * g + 1); }
            out[2 * i] = (float) sum;
            out[2 * i + 1] = (float) bad;
            base += groups[i];
        }
    }

    // ------------------------------------------------------------------ convolution
    // conv.cl version 2: every pass runs on image-innermost copies [C, Hp, Wp, NB] of its operands.

    /** rowTab[(c, r, s)] = ((c*Hp + r)*Wp + s)*NB: offsets of the im2col rows inside a copy [C, Hp, Wp, NB]. */
    private long rowTable(int c, int r, int s, int hp, int wp, int nb) {
        return table("row:" + c + "," + r + "," + s + "," + hp + "," + wp + "," + nb, () -> {
            int[] t = new int[c * r * s];
            for (int ci = 0; ci < c; ci++)
                for (int ri = 0; ri < r; ri++)
                    for (int si = 0; si < s; si++) t[(ci * r + ri) * s + si] = ((ci * hp + ri) * wp + si) * nb;
            return t;
        });
    }

    /**
     * Images per forward work-item (conv.cl's IB): 32 (float16 kernels), or 16 / 8 (the "N16" / "N8" kernels)
     * when rounding N up to 32 would add more than an eighth of N in zero images.
     */
    private static int convBlock(int n) {
        for (int ib : new int[]{32, 16}) if ((long) ceilDiv(n, ib) * ib - n <= n / 8) return ib;
        return 8;
    }

    private static String convKernel(String name, int ib) { return ib == 32 ? name : name + "N" + ib; }

    /** N rounded up to {@link #convBlock}: the images of the image-innermost copies. */
    private static int convImages(ConvGeometry g) { int ib = convBlock(g.n()); return ceilDiv(g.n(), ib) * ib; }

    /**
     * The floats between two (c, i, j) cells of a copy: NB, plus 16 when NB >= 256, so that the cells a
     * work-item walks (multiples of a power-of-two stride otherwise) do not all fall into the same L1 sets.
     */
    /** Images per conv2dPadInput work-item (conv.cl's CONV_PAD_IMAGES). */
    private static final int CONV_PAD_IMAGES = 128;

    private static int convStride(int nb) { return nb >= 256 ? nb + 16 : nb; }

    /**
     * Copies src [N, ch, hs, ws] into the scratch buffer {@code key} as [ch, hp, wp, NB], zero-padded by off
     * (top/left) and dilated by dil, images innermost (conv2dPadInput).
     */
    private long imageInnermost(String key, Buffer src, int n, int nb, int ch, int hs, int ws, int hp, int wp,
                                int offH, int offW, int dil) {
        int ld = convStride(nb);
        long dst = scratch(key, (long) ch * hp * wp * ld);
        launch("conv2dPadInput", new long[]{wp, hp, (long) ch * ceilDiv(nb, CONV_PAD_IMAGES)}, null, arg(src), n, nb, ld, ch, hs, ws, mem(dst), hp, wp, offH, offW, dil);
        return dst;
    }

    private static void checkConv(ConvGeometry g) {
        long nb = convStride(convImages(g));
        int hp = g.h() + 2 * g.pad(), wp = g.w() + 2 * g.pad();
        i32(nb * g.c() * hp * wp, "padded conv input size");
        i32(nb * g.k() * (g.h() + g.r()) * (g.w() + g.s()), "padded conv gradient size");
        i32(g.outputSize(), "conv output size");
    }

    @Override
    public synchronized void conv2dForward(ConvGeometry g, Buffer x, Buffer w, Buffer bias, Buffer y) {
        checkConv(g);
        int hp = g.h() + 2 * g.pad(), wp = g.w() + 2 * g.pad(), nb = convImages(g);
        long xt = imageInnermost("conv.xt", x, g.n(), nb, g.c(), g.h(), g.w(), hp, wp, g.pad(), g.pad(), 1);
        long rowTab = rowTable(g.c(), g.r(), g.s(), hp, wp, convStride(nb));
        int ib = convBlock(g.n());
        launch(convKernel("conv2dForward", ib), new long[]{ceilDiv(g.k(), 8), (long) g.outH() * g.outW() * (nb / ib)}, null,
                g.n(), convStride(nb), wp, g.k(), g.c() * g.r() * g.s(), g.stride(), g.outH(), g.outW(),
                mem(xt), arg(w), mem(rowTab), arg(bias), bias == null ? 0 : 1, arg(y));
    }

    @Override
    public synchronized void conv2dBackwardData(ConvGeometry g, Buffer dy, Buffer w, Buffer dx) {
        checkConv(g);
        // dx = stride-1 convolution of dy dilated by the stride and padded by R-1-pad, with flipped filters
        int hp = g.h() + g.r() - 1, wp = g.w() + g.s() - 1, nb = convImages(g);
        long dyt = imageInnermost("conv.dyt", dy, g.n(), nb, g.k(), g.outH(), g.outW(), hp, wp,
                g.r() - 1 - g.pad(), g.s() - 1 - g.pad(), g.stride());
        long wt = scratch("conv.wt", g.weightSize());
        launch1("conv2dFlipWeights", g.weightSize(), g.k(), g.c(), g.r(), g.s(), arg(w), mem(wt));
        long rowTab = rowTable(g.k(), g.r(), g.s(), hp, wp, convStride(nb));
        int ib = convBlock(g.n());
        launch(convKernel("conv2dBackwardData", ib), new long[]{ceilDiv(g.c(), 8), (long) g.h() * g.w() * (nb / ib)}, null,
                g.n(), convStride(nb), wp, g.c(), g.k() * g.r() * g.s(), 1, g.h(), g.w(), mem(dyt), mem(wt), mem(rowTab), arg(dx));
    }

    @Override
    public synchronized void conv2dBackwardFilter(ConvGeometry g, Buffer x, Buffer dy, Buffer dw, Buffer dbias) {
        checkConv(g);
        int hp = g.h() + 2 * g.pad(), wp = g.w() + 2 * g.pad(), nb = convImages(g);
        int oh = g.outH(), ow = g.outW(), crs = g.c() * g.r() * g.s(), k = g.k();
        long xt = imageInnermost("conv.xt", x, g.n(), nb, g.c(), g.h(), g.w(), hp, wp, g.pad(), g.pad(), 1);
        long dyt = imageInnermost("conv.dyt", dy, g.n(), nb, k, oh, ow, oh, ow, 0, 0, 1);
        long rowTab = rowTable(g.c(), g.r(), g.s(), hp, wp, convStride(nb));
        launch(convKernel("conv2dBackwardFilter", convBlock(g.n())), new long[]{ceilDiv(crs, 4), ceilDiv(k, 4)}, null,
                g.n(), k, crs, convStride(nb), wp, g.stride(), oh, ow, mem(dyt), mem(xt), mem(rowTab), arg(dw));
        if (dbias != null) launch1("conv2dBackwardBias", k, g.n(), k, oh * ow, arg(dy), arg(dbias));
    }

    // ------------------------------------------------------------------ pooling

    @Override
    public synchronized void maxPool2dForward(PoolGeometry g, Buffer x, Buffer y) {
        int rows = i32((long) g.n() * g.c() * g.outH(), "pooling rows");
        launch1("maxPool2dForward", rows, rows, g.h(), g.w(), g.outH(), g.outW(), g.size(), g.stride(), arg(x), arg(y));
    }

    @Override
    public synchronized void maxPool2dBackward(PoolGeometry g, Buffer x, Buffer dy, Buffer dx) {
        if (g.stride() >= g.size()) {   // windows never overlap: each work-item owns its input rows
            int rows = i32((long) g.n() * g.c() * g.outH(), "pooling rows");
            launch1("maxPool2dBackward", rows, rows, g.h(), g.w(), g.outH(), g.outW(), g.size(), g.stride(), arg(x), arg(dy), arg(dx));
        } else {
            int rows = i32((long) g.n() * g.c() * g.h(), "pooling rows");
            launch1("maxPool2dBackwardOverlap", rows, rows, g.h(), g.w(), g.outH(), g.outW(), g.size(), g.stride(),
                    arg(x), arg(dy), arg(dx));
        }
    }

    @Override
    public synchronized void globalAvgPoolForward(int n, int c, int hw, Buffer x, Buffer y) {
        launch1("globalAvgPoolForward", (long) n * c, n * c, hw, arg(x), arg(y));
    }

    @Override
    public synchronized void globalAvgPoolBackward(int n, int c, int hw, Buffer dy, Buffer dx) {
        launch1("globalAvgPoolBackward", (long) n * c, n * c, hw, arg(dy), arg(dx));
    }

    // ------------------------------------------------------------------ batch norm

    @Override
    public synchronized void batchNormForwardTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma,
                                                      Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd,
                                                      Buffer runningMean, Buffer runningVar) {
        bnForwardTraining("batchNormApply", n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar);
    }

    /** Training-mode forward: the statistics kernel, then {@code apply} (batchNormApply or batchNormReluApply). */
    private void bnForwardTraining(String apply, int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma,
                                   Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar) {
        long count = (long) n * hw;
        if (count < 2)
            throw new IllegalArgumentException("batchNorm2d (training): needs more than one value per channel, got n*h*w = "
                    + count + "; use a batch larger than 1 or eval mode");
        launch("batchNormStatistics", new long[]{(long) c * 64}, new long[]{64},
                n, c, hw, eps, momentum, arg(x), arg(saveMean), arg(saveInvStd), arg(runningMean), arg(runningVar));
        launch1(apply, (long) n * c, n * c, c, hw, arg(x), arg(saveMean), arg(saveInvStd), arg(gamma), arg(beta), arg(y));
    }

    @Override
    public synchronized void batchNormForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                                       Buffer runningMean, Buffer runningVar, Buffer y) {
        launch1("batchNormForwardInference", (long) n * c, n * c, c, hw, eps, arg(x), arg(gamma), arg(beta), arg(runningMean), arg(runningVar), arg(y));
    }

    @Override
    public synchronized void batchNormBackward(int n, int c, int hw, Buffer x, Buffer dy, Buffer gamma, Buffer saveMean,
                                               Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        launch("batchNormBackwardReduce", new long[]{(long) c * 64}, new long[]{64},
                n, c, hw, arg(x), arg(dy), arg(saveMean), arg(saveInvStd), arg(dgamma), arg(dbeta));
        launch1("batchNormBackward", (long) n * c, n, c, hw, arg(x), arg(dy), arg(gamma), arg(saveMean), arg(saveInvStd), arg(dgamma), arg(dbeta), arg(dx));
    }

    @Override
    public synchronized void batchNormReluForwardTraining(int n, int c, int hw, float eps, float momentum, Buffer x, Buffer gamma,
                                                          Buffer beta, Buffer y, Buffer saveMean, Buffer saveInvStd,
                                                          Buffer runningMean, Buffer runningVar) {
        bnForwardTraining("batchNormReluApply", n, c, hw, eps, momentum, x, gamma, beta, y, saveMean, saveInvStd, runningMean, runningVar);
    }

    @Override
    public synchronized void batchNormReluForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                                           Buffer runningMean, Buffer runningVar, Buffer y) {
        launch1("batchNormReluForwardInference", (long) n * c, n * c, c, hw, eps, arg(x), arg(gamma), arg(beta), arg(runningMean),
                arg(runningVar), arg(y));
    }

    @Override
    public synchronized void batchNormReluBackward(int n, int c, int hw, Buffer x, Buffer y, Buffer dy, Buffer gamma,
                                                   Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta) {
        launch("batchNormReluBackwardReduce", new long[]{(long) c * 64}, new long[]{64},
                n, c, hw, arg(x), arg(y), arg(dy), arg(saveMean), arg(saveInvStd), arg(dgamma), arg(dbeta));
        launch1("batchNormReluBackward", (long) n * c, n, c, hw, arg(x), arg(y), arg(dy), arg(gamma), arg(saveMean), arg(saveInvStd),
                arg(dgamma), arg(dbeta), arg(dx));
    }

    // ------------------------------------------------------------------ linear

    /** The GEMM tiles index with 32-bit ints. */
    private static void checkLinear(int n, int in, int out) {
        i32((long) n * in, "linear input size");
        i32((long) n * out, "linear output size");
        i32((long) out * in, "linear weight size");
    }

    @Override
    public synchronized void linearForward(int n, int in, int out, Buffer x, Buffer w, Buffer b, Buffer y) {
        checkLinear(n, in, out);
        launchGemm("linearForward", n, out, 1, n, in, out, arg(x), arg(w), arg(b), b == null ? 0 : 1, arg(y));
    }

    @Override
    public synchronized void linearBackwardData(int n, int in, int out, Buffer dy, Buffer w, Buffer dx) {
        checkLinear(n, in, out);
        launchGemm("linearBackwardData", n, in, 1, n, in, out, arg(dy), arg(w), arg(dx));
    }

    @Override
    public synchronized void linearBackwardWeight(int n, int in, int out, Buffer x, Buffer dy, Buffer dw, Buffer db) {
        checkLinear(n, in, out);
        launchGemm("linearBackwardWeight", out, in, 1, n, in, out, arg(x), arg(dy), arg(dw));
        if (db != null) launch1("linearBackwardBias", out, n, out, arg(dy), arg(db));
    }

    // ------------------------------------------------------------------ embeddings

    @Override
    public synchronized void l2NormalizeForward(int n, int d, float eps, Buffer x, Buffer y, Buffer norms) {
        launch1("l2NormalizeForward", n, n, d, eps, arg(x), arg(y), arg(norms));
    }

    @Override
    public synchronized void l2NormalizeBackward(int n, int d, float eps, Buffer y, Buffer norms, Buffer dy, Buffer dx) {
        launch1("l2NormalizeBackward", n, n, d, eps, arg(y), arg(norms), arg(dy), arg(dx));
    }

    /** Row norms of e into a scratch buffer (only the cosine distance reads them). */
    private long norms(int n, int d, Distance metric, Object e, String key) {
        long norms = scratch(key, n);
        if (metric == Distance.COSINE) launch1("rowNorms", n, n, d, e, mem(norms));
        return norms;
    }

    /** The tiled distance kernel: dist [n, n] from e [n, d]. */
    private void distances(int n, int d, Distance metric, Object e, long norms, Object dist) {
        launchGemm("pairwiseDistanceForward", n, n, 1, n, d, metric.ordinal(), e, mem(norms), dist);
    }

    /** g [n, n] becomes g + g^T in place. */
    private void symmetrize(int n, long g) {
        long t = (long) ceilDiv(n, 16) * 16;
        launch("symmetrizeInPlace", new long[]{t, t}, new long[]{16, 16}, n, mem(g));
    }

    @Override
    public synchronized void pairwiseDistanceForward(int n, int d, Distance metric, Buffer e, Buffer dist) {
        i32((long) n * n, "distance matrix size");
        long norms = norms(n, d, metric, arg(e), "pair.norms");
        distances(n, d, metric, arg(e), norms, arg(dist));
    }

    @Override
    public synchronized void pairwiseDistanceBackward(int n, int d, Distance metric, Buffer e, Buffer dist, Buffer dDist, Buffer dE) {
        long norms = norms(n, d, metric, arg(e), "pair.norms");
        long nn = (long) i32((long) n * n, "distance matrix size");
        long s = scratch("pair.s", nn);
        if (nn > 0) {
            OpenClRuntime.check(clEnqueueCopyBuffer(queue, buf(dDist).mem, s, 0, 0, nn * 4, null, null), "clEnqueueCopyBuffer");
            symmetrize(n, s);
        }
        launch1("pairwiseDistanceBackward", n, n, d, metric.ordinal(), arg(e), mem(norms), arg(dist), mem(s), arg(dE));
    }

    // ------------------------------------------------------------------ the fused triplet loss

    @Override
    public synchronized void tripletLoss(int b, int d, int[] labels, TripletOptions options, Buffer e, Buffer dE, Buffer stats) {
        if (options == null) throw new IllegalArgumentException("tripletLoss: options are required");
        if (b < 0 || d < 0) throw new IllegalArgumentException("tripletLoss: negative size b=" + b + ", d=" + d);
        if (labels == null || labels.length < b)
            throw new IllegalArgumentException("tripletLoss: need " + b + " labels, got " + (labels == null ? "null" : labels.length));
        int anchors = options.anchorRows();
        if (anchors > b)
            throw new IllegalArgumentException("tripletLoss: anchorRows " + anchors + " exceeds the batch of " + b
                    + " rows; use TripletOptions.withAnchorRows(B) when the batch has no extra negatives");
        i32((long) b * b, "triplet distance matrix size");
        ClBuffer st = buf(stats);
        if (st.size < TripletStats.SIZE)
            throw new IllegalArgumentException("tripletLoss: stats needs " + TripletStats.SIZE + " floats, got " + st.size);
        long lab = scratch("triplet.labels", Math.max(1, b));
        if (b > 0) {
            IntBuffer ib = MemoryUtil.memAllocInt(b);
            try {
                ib.put(labels, 0, b).flip();
                OpenClRuntime.check(clEnqueueWriteBuffer(queue, lab, true, 0, ib, null, null), "clEnqueueWriteBuffer");
            } finally {
                MemoryUtil.memFree(ib);
            }
        }
        Object ea = arg(e);
        Distance metric = options.distance();
        long norms = norms(b, d, metric, ea, "triplet.norms");
        long dist = scratch("triplet.dist", (long) b * b);
        long g = scratch("triplet.g", (long) b * b);
        long part = scratch("triplet.part", (long) b * 8);
        long scale = scratch("triplet.scale", 1);
        if (b > 0) {
            distances(b, d, metric, ea, norms, mem(dist));
            launch1("tripletLossMine", b, b, anchors, mem(lab), options.strategy().ordinal(), options.margin(),
                    options.softMargin() ? 1 : 0, mem(dist), mem(g), mem(part));
        }
        launch("tripletLossReduce", new long[]{64}, new long[]{64}, b, d, anchors, options.strategy().ordinal(), ea, mem(part),
                arg(stats), mem(scale));
        if (b > 0) {
            symmetrize(b, g);
            launch1("tripletLossBackward", b, b, d, metric.ordinal(), ea, mem(norms), mem(dist), mem(g), mem(scale), arg(dE));
        }
    }

    // ------------------------------------------------------------------ optimizer updates

    @Override
    public synchronized void sgdUpdate(long n, OptimizerParams.Sgd p, Buffer param, Buffer grad, Buffer velocity) {
        launch1("sgdUpdate", n, n, p.lr(), p.momentum(), p.nesterov() ? 1 : 0, p.weightDecay(), arg(param), arg(grad), arg(velocity));
    }

    @Override
    public synchronized void adamUpdate(long n, OptimizerParams.Adam p, Buffer param, Buffer grad, Buffer m, Buffer v) {
        if (p.step() < 1) throw new IllegalArgumentException("adamUpdate: step is 1-based, got " + p.step());
        float c1 = (float) (1 - Math.pow(p.beta1(), p.step())), c2 = (float) (1 - Math.pow(p.beta2(), p.step()));
        launch1("adamUpdate", n, n, p.lr(), p.beta1(), p.beta2(), p.eps(), p.weightDecay(), p.decoupled() ? 1 : 0, c1, c2,
                arg(param), arg(grad), arg(m), arg(v));
    }

    @Override
    public synchronized void adagradUpdate(long n, OptimizerParams.Adagrad p, Buffer param, Buffer grad, Buffer accumulator) {
        launch1("adagradUpdate", n, n, p.lr(), p.eps(), p.weightDecay(), arg(param), arg(grad), arg(accumulator));
    }

    @Override public String toString() { return "OpenClBackend[" + deviceDescription() + "]"; }
}
