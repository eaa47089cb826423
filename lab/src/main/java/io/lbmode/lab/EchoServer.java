package io.lbmode.lab;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

/**
 * The lab's pod: answers HTTP {@code GET /} and every UDP datagram on the same port with
 * {@code pod=NAME client=IP:PORT}, the address the pod saw (what SNAT hides and DSR keeps).
 * {@code GET /bytes/N} returns N bytes (for byte counts on the LB node). {@code GET /stream/MS} writes one such line every
 * {@code MS} milliseconds, numbered, until the client closes the connection: a long-running TCP flow whose every
 * line names the pod that serves it (failover tests).
 *
 * <p>usage: {@code EchoServer NAME PORT}
 */
public final class EchoServer {
    private EchoServer() {
    }

    public static void main(String[] args) throws IOException {
        String name = args[0];
        int port = Integer.parseInt(args[1]);
        HttpServer http = HttpServer.create(new InetSocketAddress(port), 128);
        http.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        http.createContext("/", ex -> {
            String path = ex.getRequestURI().getPath();
            InetSocketAddress peer = ex.getRemoteAddress();
            if (path.startsWith("/bytes/")) {
                long n = Long.parseLong(path.substring("/bytes/".length()));
                ex.sendResponseHeaders(200, n);
                byte[] chunk = new byte[64 * 1024];
                try (OutputStream out = ex.getResponseBody()) {
                    for (long left = n; left > 0; left -= chunk.length) {
                        out.write(chunk, 0, (int) Math.min(chunk.length, left));
                    }
                }
                return;
            }
            if (path.startsWith("/stream/")) {
                long every = Long.parseLong(path.substring("/stream/".length()));
                ex.getResponseHeaders().set("Content-Type", "text/plain");
                ex.sendResponseHeaders(200, 0); // chunked, no end
                try (OutputStream out = ex.getResponseBody()) {
                    for (long seq = 0; ; seq++) {
                        out.write(("pod=" + name + " client=" + peer.getAddress().getHostAddress() + ":" + peer.getPort()
                                + " seq=" + seq + "\n").getBytes(StandardCharsets.UTF_8));
                        out.flush();
                        Thread.sleep(every);
                    }
                } catch (IOException | InterruptedException e) {
                    return; // the client went away
                }
            }
            byte[] body = ("pod=" + name + " client=" + peer.getAddress().getHostAddress() + ":" + peer.getPort() + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "text/plain");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        });
        http.start();
        Thread.ofPlatform().name("udp").start(() -> {
            try (DatagramSocket udp = new DatagramSocket(port)) {
                byte[] buf = new byte[2048];
                while (true) {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    udp.receive(p);
                    byte[] reply = ("pod=" + name + " client=" + p.getAddress().getHostAddress() + ":" + p.getPort() + "\n")
                            .getBytes(StandardCharsets.UTF_8);
                    udp.send(new DatagramPacket(reply, reply.length, p.getSocketAddress()));
                }
            } catch (IOException e) {
                System.err.println("udp: " + e);
            }
        });
        System.out.println("pod " + name + " listening on tcp/udp " + port);
    }
}
