package org.cryptforward.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine;

/** {@code --version}: this build's version and the versions of the libraries that matter. */
public final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() throws IOException {
        Properties p = new Properties();
        try (InputStream in = VersionProvider.class.getResourceAsStream("/org/cryptforward/version.properties")) {
            if (in != null) {
                p.load(in);
            }
        }
        return new String[] {
            "cryptforward " + p.getProperty("version", "unknown"),
            "Bouncy Castle " + p.getProperty("bouncycastle", "unknown") + ", Angus Mail "
                    + p.getProperty("angus.mail", "unknown") + ", Java " + System.getProperty("java.version")
        };
    }
}
