using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace MeasureApp.Acquisition.Devices.Sigrok;

/// <summary>One device line of <c>sigrok-cli --scan</c>, e.g. <c>demo - Demo device with 13 channels: D0 … A4</c>.</summary>
/// <param name="Driver">The driver (and connection) to pass to <c>--driver</c>, e.g. <c>demo</c> or <c>uni-t-ut61e:conn=1a86.e008</c>.</param>
/// <param name="Description">What sigrok calls the device.</param>
/// <param name="Channels">The device's channels in the device's own order (the order of the WAV columns).</param>
/// <param name="Line">The line as sigrok-cli printed it (shown as the identity string).</param>
public sealed record SigrokDevice(string Driver, string Description, IReadOnlyList<string> Channels, string Line);

/// <summary>The outcome of a short sigrok-cli call.</summary>
/// <param name="ExitCode">The exit code (−1 when it could not be started or timed out).</param>
/// <param name="Output">Standard output.</param>
/// <param name="Error">Standard error, or why it did not run.</param>
public sealed record SigrokCliResult(int ExitCode, string Output, string Error);

/// <summary>Runs short sigrok-cli commands (scan, show) as a child process: sigrok is GPL, so it is never linked.</summary>
public static partial class SigrokCli
{
    /// <summary>The executable, found on PATH (Debian: <c>apt-get install sigrok-cli</c>).</summary>
    public const string Executable = "sigrok-cli";

    /// <summary>Runs sigrok-cli with <paramref name="arguments"/>, killing it after <paramref name="timeout"/>.</summary>
    public static async Task<SigrokCliResult> RunAsync(IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var psi = new ProcessStartInfo(Executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            return new SigrokCliResult(-1, "", $"sigrok-cli could not be started ({ex.Message}); install it (Debian: apt-get install sigrok-cli).");
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = process.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return new SigrokCliResult(process.ExitCode, await stdout, await stderr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            return new SigrokCliResult(-1, "", $"sigrok-cli did not answer within {timeout.TotalSeconds:0} s.");
        }
    }

    /// <summary>
    /// Lists attached devices: <c>sigrok-cli --scan</c> (every driver; slow USB/serial probing included),
    /// or only <paramref name="driver"/>'s when given.
    /// </summary>
    public static async Task<(IReadOnlyList<SigrokDevice> Devices, string? Error)> ScanAsync(string? driver, CancellationToken cancellationToken)
    {
        string[] args = driver is { Length: > 0 } ? ["--driver", driver, "--scan"] : ["--scan"];
        var result = await RunAsync(args, TimeSpan.FromSeconds(30), cancellationToken);
        var devices = ParseScan(result.Output);
        if (result.ExitCode != 0 && devices.Count == 0)
        {
            return (devices, ErrorText(result));
        }
        return (devices, null);
    }

    /// <summary>
    /// The logic channels of <paramref name="driver"/>'s device, from the "Logic: channels …" group of
    /// <c>sigrok-cli --driver X --show</c> (empty when the device lists no such group, or --show fails:
    /// the WAV stream's own channel count is the check of last resort).
    /// </summary>
    public static async Task<IReadOnlySet<string>> LogicChannelsAsync(string driver, CancellationToken cancellationToken)
    {
        var result = await RunAsync(["--driver", driver, "--show"], TimeSpan.FromSeconds(30), cancellationToken);
        return ParseLogicChannels(result.Output);
    }

    /// <summary>The channels of the "Logic: channels D0 D1 …" group lines of <c>--show</c> output.</summary>
    public static IReadOnlySet<string> ParseLogicChannels(string showOutput)
    {
        ArgumentNullException.ThrowIfNull(showOutput);
        var logic = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in showOutput.Split('\n'))
        {
            var line = raw.Trim();
            const string Prefix = "Logic: channels ";
            if (line.StartsWith(Prefix, StringComparison.Ordinal))
            {
                logic.UnionWith(line[Prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
            }
        }
        return logic;
    }

    /// <summary>
    /// Why <paramref name="channels"/> cannot be recorded because some are logic channels, or null.
    /// The driver reads sigrok's WAV output, which carries analog channels only: a logic channel would
    /// silently shift every column after it.
    /// </summary>
    public static string? LogicRefusal(IEnumerable<string> channels, IReadOnlySet<string> logic)
    {
        ArgumentNullException.ThrowIfNull(channels);
        ArgumentNullException.ThrowIfNull(logic);
        var named = channels.Where(logic.Contains).ToList();
        return named.Count == 0
            ? null
            : $"{string.Join(", ", named)} {(named.Count == 1 ? "is a logic channel" : "are logic channels")}; MeasureApp records sigrok analog channels only (logic channels are not supported yet). Choose analog channels.";
    }

    /// <summary>Parses the device lines of <c>--scan</c> output.</summary>
    public static IReadOnlyList<SigrokDevice> ParseScan(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var devices = new List<SigrokDevice>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var m = ScanLine().Match(line);
            if (!m.Success)
            {
                continue;
            }
            var channels = m.Groups["channels"].Success
                ? m.Groups["channels"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                : [];
            devices.Add(new SigrokDevice(m.Groups["driver"].Value, m.Groups["desc"].Value.Trim(), channels, line.Trim()));
        }
        return devices;
    }

    /// <summary>The last lines of stderr (or the exit code) in one line, for a stop reason or a message.</summary>
    public static string ErrorText(SigrokCliResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = Tail(result.Error, 400);
        return text.Length > 0 ? text : $"sigrok-cli exited with code {result.ExitCode} and printed no error.";
    }

    /// <summary>The last <paramref name="max"/> characters of <paramref name="text"/> with its line breaks folded.</summary>
    public static string Tail(string text, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (sb.Length > 0)
            {
                sb.Append(" | ");
            }
            sb.Append(line);
        }
        var s = sb.ToString();
        return s.Length <= max ? s : "…" + s[^max..];
    }

    // "demo - Demo device with 13 channels: D0 D1 …" and "uni-t-ut61e:conn=1a86.e008 - UNI-T UT61E with 1 channel: P1".
    [GeneratedRegex(@"^(?<driver>\S+) - (?<desc>.+?)(?: with \d+ channels?: (?<channels>.+))?$")]
    private static partial Regex ScanLine();
}
