package org.cryptforward.support;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/** Self-signed server certificates made with the JDK's keytool, for TLS tests of the relay. */
public final class TestCertificates {
    private static final String PASSWORD = "changeit";

    /** A server identity: the TLS context to serve with and the certificate as PEM (a trust anchor). */
    public record Identity(SSLContext serverContext, Path certificatePem) {}

    private TestCertificates() {}

    /** A self-signed certificate whose subject alternative names are {@code san} (e.g. {@code dns:localhost,ip:127.0.0.1}). */
    public static Identity selfSigned(Path dir, String name, String san) {
        try {
            Files.createDirectories(dir);
            Path ks = dir.resolve(name + ".p12");
            Path pem = dir.resolve(name + ".pem");
            Files.deleteIfExists(ks);
            String keytool =
                    Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
            Tools.Result gen = Tools.run(
                    dir,
                    null,
                    List.of(
                            keytool,
                            "-genkeypair",
                            "-alias",
                            "server",
                            "-keyalg",
                            "EC",
                            "-groupname",
                            "secp256r1",
                            "-dname",
                            "CN=" + name,
                            "-ext",
                            "SAN=" + san,
                            "-validity",
                            "3650",
                            "-keystore",
                            ks.toString(),
                            "-storetype",
                            "PKCS12",
                            "-storepass",
                            PASSWORD,
                            "-keypass",
                            PASSWORD),
                    java.util.Map.of());
            if (gen.exit() != 0) {
                throw new AssertionError("keytool -genkeypair: " + gen.err());
            }
            Tools.Result exp = Tools.run(
                    dir,
                    null,
                    List.of(
                            keytool,
                            "-exportcert",
                            "-rfc",
                            "-alias",
                            "server",
                            "-keystore",
                            ks.toString(),
                            "-storepass",
                            PASSWORD,
                            "-file",
                            pem.toString()),
                    java.util.Map.of());
            if (exp.exit() != 0) {
                throw new AssertionError("keytool -exportcert: " + exp.err());
            }
            KeyStore store = KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(ks)) {
                store.load(in, PASSWORD.toCharArray());
            }
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(store, PASSWORD.toCharArray());
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, null);
            return new Identity(ctx, pem);
        } catch (IOException | GeneralSecurityException e) {
            throw new AssertionError(e);
        }
    }
}
