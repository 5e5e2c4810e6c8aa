using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using MeasureApp.Bench.Load;

namespace MeasureApp.Bench;

/// <summary>
/// <c>bdn [BenchmarkDotNet args]</c> runs the micro-benchmarks; <c>load &lt;scenario&gt; [options]</c>
/// runs a load scenario; <c>load list</c> lists them.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage:
          dotnet run -c Release --project bench/MeasureApp.Bench -- bdn [BenchmarkDotNet args]
              e.g. bdn --filter '*M4Kernel*' --job short   (in-process unless --out-of-process)
          dotnet run -c Release --project bench/MeasureApp.Bench -- load list
          dotnet run -c Release --project bench/MeasureApp.Bench -- load <scenario> [--help] [options] [--write]
        """;

    public static async Task<int> Main(string[] args)
    {
        switch (args.FirstOrDefault())
        {
            case "bdn":
                return RunBenchmarkDotNet(args[1..]);
            case "load":
                return await RunLoadAsync(args[1..]);
            default:
                Console.Error.WriteLine(Usage);
                return args.Length > 0 && args[0] is "-h" or "--help" ? 0 : 2;
        }
    }

    private static int RunBenchmarkDotNet(string[] args)
    {
        // In-process by default: an out-of-process run makes BenchmarkDotNet build a generated project
        // into the shared obj/ folders, which collides with other builds in this working tree.
        if (args.Contains("--out-of-process", StringComparer.OrdinalIgnoreCase))
        {
            args = [.. args.Where(a => !string.Equals(a, "--out-of-process", StringComparison.OrdinalIgnoreCase))];
        }
        else if (!args.Contains("--inProcess", StringComparer.OrdinalIgnoreCase))
        {
            args = [.. args, "--inProcess"];
        }
        // BenchmarkDotNet writes its reports under the working directory by default; keep them out of the repository.
        IConfig config = DefaultConfig.Instance;
        if (!args.Contains("--artifacts", StringComparer.OrdinalIgnoreCase))
        {
            config = config.WithArtifactsPath(Path.Combine(Path.GetTempPath(), "measureapp-bdn"));
        }
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }

    private static async Task<int> RunLoadAsync(string[] args)
    {
        if (args.Length == 0 || args[0] == "list")
        {
            foreach (var s in LoadScenarios.All())
            {
                Console.WriteLine($"{s.Name,-20} {s.Description}");
            }
            return args.Length == 0 ? 2 : 0;
        }
        var scenario = LoadScenarios.Find(args[0]);
        if (scenario is null)
        {
            await Console.Error.WriteLineAsync($"Unknown scenario '{args[0]}'. Known: {string.Join(", ", LoadScenarios.All().Select(s => s.Name))}");
            return 2;
        }
        LoadOptions options;
        try
        {
            options = LoadOptions.Parse(args[1..]);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 2;
        }
        if (options.Has("help"))
        {
            Console.WriteLine($"{scenario.Name}: {scenario.Description}");
            Console.WriteLine(scenario.Usage);
            return 0;
        }
        var write = options.Has("write");
        var docPath = options.GetString("doc", "");

        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        var report = await scenario.RunAsync(options, Console.Out, cts.Token);
        report.Command = "dotnet run -c Release --project bench/MeasureApp.Bench -- load " + string.Join(' ', args);
        foreach (var unread in options.Unread())
        {
            await Console.Error.WriteLineAsync($"warning: option --{unread} is not used by {scenario.Name}");
        }
        Console.WriteLine();
        Console.WriteLine(report.ToText());
        if (write)
        {
            var path = docPath.Length > 0 ? docPath : BenchmarksDoc.DefaultPath();
            BenchmarksDoc.UpdateSection(path, report.SectionKey, report.ToMarkdown(DateTimeOffset.UtcNow));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Updated section '{report.SectionKey}' in {path}"));
        }
        return 0;
    }
}
