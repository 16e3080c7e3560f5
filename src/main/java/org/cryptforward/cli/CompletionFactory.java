package org.cryptforward.cli;

import java.io.InputStream;
import java.time.Clock;
import java.util.Map;
import picocli.CommandLine;

/**
 * Lets picocli's {@code AutoComplete} tool build the command line, whose classes take a
 * {@link Context} instead of having no-argument constructors. The build runs
 * {@code picocli.AutoComplete --factory org.cryptforward.cli.CompletionFactory org.cryptforward.cli.Cli}
 * to write the bash completion script into {@code target/dist/share/bash-completion/}. The commands are only built,
 * never run: the context reads nothing and writes nowhere.
 */
public final class CompletionFactory implements CommandLine.IFactory {
    private final Context context =
            new Context(InputStream.nullInputStream(), System.out, System.err, Map.of(), Clock.systemUTC(), false);

    @Override
    public <K> K create(Class<K> cls) throws Exception {
        try {
            return cls.getDeclaredConstructor(Context.class).newInstance(context);
        } catch (NoSuchMethodException e) {
            return CommandLine.defaultFactory().create(cls);
        }
    }
}
