package io.lbmode.datapath.bpf;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A platform thread inside a network namespace (setns(2)): sockets opened and tc programs attached from it belong to
 * that namespace. Namespaces are per thread, so the thread is never shared with other work.
 */
final class NsThread implements AutoCloseable {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle OPEN = LINKER.downcallHandle(LINKER.defaultLookup().find("open").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle SETNS = LINKER.downcallHandle(LINKER.defaultLookup().find("setns").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private final String ns;
    private final ExecutorService executor;

    NsThread(String ns) {
        this.ns = ns;
        this.executor = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon().name("ns-" + ns).unstarted(() -> {
            enter(ns);
            r.run();
        }));
    }

    private static void enter(String ns) {
        try (Arena a = Arena.ofConfined()) {
            int fd = (int) OPEN.invokeExact(a.allocateFrom("/run/netns/" + ns), 0);
            if (fd < 0) {
                throw new IllegalStateException("no network namespace " + ns);
            }
            int rc = (int) SETNS.invokeExact(fd, 0x40000000);
            int ignored = (int) CLOSE.invokeExact(fd);
            if (rc != 0) {
                throw new IllegalStateException("setns " + ns + " failed (root needed)");
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    String name() {
        return ns;
    }

    <T> T call(Callable<T> task) throws Exception {
        try {
            return executor.submit(task).get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw new RuntimeException(e.getCause());
        }
    }

    void run(ThrowingRunnable task) throws Exception {
        call(() -> {
            task.run();
            return null;
        });
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
