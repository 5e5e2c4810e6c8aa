using System.Diagnostics;

namespace MeasureApp.Tests.Storage;

/// <summary>
/// A real, small tmpfs mounted for one test, so "the disk is full" is the kernel's ENOSPC, not a
/// pretend limit. Mounting needs root (the CI container and the dev machine run tests as root); a
/// machine that cannot mount fails the test with the reason instead of skipping it.
/// </summary>
internal sealed class TinyDisk : IDisposable
{
    private TinyDisk(string path) => Path = path;

    public string Path { get; }

    public static TinyDisk Mount(long bytes)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "measureapp-tinydisk", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={bytes}", "tmpfs", path);
        if (code != 0)
        {
            Directory.Delete(path);
            Assert.Fail($"Mounting a {bytes}-byte tmpfs at {path} failed ({output.Trim()}); this fault test needs root.");
        }
        return new TinyDisk(path);
    }

    public void Dispose()
    {
        Run("umount", "-l", Path);
        Directory.Delete(Path, recursive: true);
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardError.ReadToEnd() + process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(20)))
        {
            process.Kill();
            return (-1, $"{file} did not finish in 20 s");
        }
        return (process.ExitCode, output);
    }
}
