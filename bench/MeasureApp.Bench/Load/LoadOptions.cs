using System.Globalization;

namespace MeasureApp.Bench.Load;

/// <summary>
/// <c>--name value</c>, <c>--name=value</c> and bare <c>--flag</c> options of a load scenario.
/// Options a scenario never reads are reported, so a typo does not silently run the defaults.
/// </summary>
public sealed class LoadOptions
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _read = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Parses command-line options.</summary>
    public static LoadOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new LoadOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new ArgumentException($"Unexpected argument '{arg}': options look like --name value.", nameof(args));
            }
            var name = arg[2..];
            string? value = null;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            options._values[name] = value;
        }
        return options;
    }

    /// <summary>Builds options from name/value pairs (a null value is a bare flag); for tests and callers in code.</summary>
    public static LoadOptions From(params (string Name, string? Value)[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var options = new LoadOptions();
        foreach (var (name, value) in values)
        {
            options._values[name] = value;
        }
        return options;
    }

    /// <summary>True when the option was given (with or without a value).</summary>
    public bool Has(string name)
    {
        _read.Add(name);
        return _values.ContainsKey(name);
    }

    /// <summary>The option's text, or <paramref name="fallback"/>.</summary>
    public string GetString(string name, string fallback)
    {
        _read.Add(name);
        return _values.TryGetValue(name, out var v) && v is not null ? v : fallback;
    }

    /// <summary>The option as an integer, or <paramref name="fallback"/>.</summary>
    public int GetInt(string name, int fallback) => (int)GetDouble(name, fallback);

    /// <summary>The option as a number (invariant culture, "100k" and "2M" allowed), or <paramref name="fallback"/>.</summary>
    public double GetDouble(string name, double fallback)
    {
        _read.Add(name);
        if (!_values.TryGetValue(name, out var text) || text is null)
        {
            return fallback;
        }
        var scale = 1.0;
        if (text.EndsWith('k') || text.EndsWith('K'))
        {
            scale = 1e3;
            text = text[..^1];
        }
        else if (text.EndsWith('M'))
        {
            scale = 1e6;
            text = text[..^1];
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            throw new ArgumentException($"--{name} needs a number, got '{text}'.", nameof(name));
        }
        return value * scale;
    }

    /// <summary>Options given but never read by the scenario.</summary>
    public IReadOnlyList<string> Unread() => [.. _values.Keys.Where(k => !_read.Contains(k))];
}
