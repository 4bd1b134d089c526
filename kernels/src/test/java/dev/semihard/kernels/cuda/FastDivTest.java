package dev.semihard.kernels.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The host side of sh_fastdiv: the magic numbers CudaBackend passes give exact quotients (no GPU needed). */
class FastDivTest {
    @Test
    void exactForEveryDivisorUpTo5000AndASweepToIntMax() {
        for (long d = 1; d <= Integer.MAX_VALUE; d = d < 5000 ? d + 1 : d * 3 / 2 + 1) {
            FastDiv f = FastDiv.of((int) d);
            for (long n = 0; n < 3000; n++) assertEquals(n / d, f.div((int) n), "d=" + d + " n=" + n);
            for (long k = 1; k * d <= Integer.MAX_VALUE; k = k * 2 + 1)
                for (long e = -1; e <= 1; e++) {
                    long n = k * d + e;
                    if (n >= 0 && n <= Integer.MAX_VALUE) assertEquals(n / d, f.div((int) n), "d=" + d + " n=" + n);
                }
            assertEquals(Integer.MAX_VALUE / d, f.div(Integer.MAX_VALUE), "d=" + d + " n=2^31-1");
        }
    }

    @Test
    void rejectsDivisorsBelowOne() {
        assertThrows(IllegalArgumentException.class, () -> FastDiv.of(0));
    }
}
