using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace MeasureApp.Tests.Export;

/// <summary>What DuckDB saw in a Parquet file (see duckdb/read.mjs).</summary>
internal sealed record DuckDbReport(IReadOnlyList<DuckDbColumn> Columns, long Rows, int RowGroups, string? TimePhysical, string? TimeLogical,
    IReadOnlyDictionary<string, string> Metadata, string CsvPath, IReadOnlyList<DuckDbChunk> Chunks);

/// <summary>One column chunk as DuckDB's parquet_metadata() reports it (statistics as DuckDB prints them).</summary>
internal sealed record DuckDbChunk(int RowGroup, string Column, string Compression, string? Min, string? Max);

internal sealed record DuckDbColumn(string Name, string Type);

/// <summary>
/// Reads a Parquet export with DuckDB (npm <c>@duckdb/node-api</c>, run by node): a reader that shares
/// no code with the writer. Installs the package on first use.
/// </summary>
internal static class DuckDbReader
{
    private static readonly SemaphoreSlim Install = new(1, 1);
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    public static async Task<DuckDbReport> ReadAsync(string parquetPath)
    {
        var folder = Folder();
        await EnsureInstalledAsync(folder);
        var csv = Path.ChangeExtension(parquetPath, ".duckdb.csv");
        var output = await RunAsync("node", folder, "read.mjs", parquetPath, csv);
        var report = JsonSerializer.Deserialize<DuckDbReport>(output, Json)
            ?? throw new InvalidOperationException("read.mjs printed nothing.");
        return report with { CsvPath = csv };
    }

    private static async Task EnsureInstalledAsync(string folder)
    {
        await Install.WaitAsync();
        try
        {
            if (!Directory.Exists(Path.Combine(folder, "node_modules", "@duckdb", "node-api")))
            {
                await RunAsync("npm", folder, "install", "--no-audit", "--no-fund");
            }
        }
        finally
        {
            Install.Release();
        }
    }

    private static async Task<string> RunAsync(string file, string folder, params string[] arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await stderr}");
        return await stdout;
    }

    // The source folder, wherever the build output went (tests run with their own artifacts path).
    private static string Folder([CallerFilePath] string source = "") => Path.Combine(Path.GetDirectoryName(source)!, "duckdb");
}
