using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace MeasureApp.Tests.Monitoring;

/// <summary><c>GET /metrics</c> on the real app (SQLite), validated by Prometheus' own promtool.</summary>
public sealed class MetricsEndpointTests(ITestOutputHelper output)
{
    private const string Promtool = "/usr/bin/promtool";

    [Fact]
    public async Task MetricsArePrometheusTextWithPerUserSeriesThatPromtoolAccepts()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["Metrics:RequireAdmin"] = "false" });
        var op = await Users.CreateOperatorAsync(factory.Services);
        var engine = factory.Services.GetRequiredService<MeasurementEngine>();
        var accountant = factory.Services.GetRequiredService<ResourceAccountant>();
        var owner = new Requester(op.Id, op.Email!, IsAdmin: false);
        var started = await engine.StartAsync(owner, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "Scraped", Channels = 2, SampleRate = 10_000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        string body;
        HttpResponseMessage response;
        try
        {
            await Eventually.TrueAsync(() => accountant.Snapshot().Any(u => u.UserId == op.Id && u.Samples >= 1_000), "the operator's measurement acquires samples");
            using var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
            // One finished request for the HTTP metrics to count before the scrape.
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);
            response = await client.GetAsync(new Uri("/metrics", UriKind.Relative));
            body = await response.Content.ReadAsStringAsync();
        }
        finally
        {
            await engine.StopAsync(started.Measurement!.Id, owner, CancellationToken.None);
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var contentType = response.Content.Headers.ContentType!;
        Assert.Equal("text/plain", contentType.MediaType);
        Assert.Contains(contentType.Parameters, p => p.Name == "version" && p.Value == "0.0.4");

        Assert.Matches(Sample("measureapp_active_users", ""), body);
        Assert.Matches(Sample("measureapp_running_measurements", ""), body);
        Assert.Matches(Sample("measureapp_store_queue_bytes", ""), body);
        Assert.Matches(Sample("measureapp_store_chunks_written_total", ""), body);
        // Per-user series are labelled with the user id; the e-mail never appears.
        var samples = Sample("measureapp_user_samples_total", $"{{user=\"{op.Id}\"}}").Match(body);
        Assert.True(samples.Success, $"no per-user sample counter for {op.Id} in:\n{body}");
        Assert.True(double.Parse(samples.Groups[1].Value, CultureInfo.InvariantCulture) >= 1_000, samples.Value);
        Assert.Matches(Sample("measureapp_user_pipeline_seconds_total", $"{{user=\"{op.Id}\"}}"), body);
        Assert.Matches(Sample("measureapp_user_buffer_bytes", $"{{user=\"{op.Id}\"}}"), body);
        Assert.DoesNotContain(op.Email!, body, StringComparison.OrdinalIgnoreCase);
        // HTTP request metrics from prometheus-net's middleware.
        Assert.Matches(new Regex("^http_requests_received_total\\{code=\"200\",method=\"GET\",.*\\} [1-9]", RegexOptions.Multiline), body);

        output.WriteLine(body);
        var (exitCode, promtoolOutput) = await RunPromtoolAsync(body);
        Assert.True(exitCode == 0, $"promtool check metrics exited {exitCode}:\n{promtoolOutput}\n--- body ---\n{body}");
    }

    [Fact]
    public async Task CountersOnlyGrowBetweenScrapes()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["Metrics:RequireAdmin"] = "false" });
        var op = await Users.CreateOperatorAsync(factory.Services);
        var engine = factory.Services.GetRequiredService<MeasurementEngine>();
        var owner = new Requester(op.Id, op.Email!, IsAdmin: false);
        var started = await engine.StartAsync(owner, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "Growing", Channels = 1, SampleRate = 10_000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        using var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var series = Sample("measureapp_user_samples_total", $"{{user=\"{op.Id}\"}}");
        try
        {
            double first = 0;
            await Eventually.TrueAsync(async () =>
            {
                var m = series.Match(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)));
                first = m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
                return first > 0;
            }, "a first non-zero sample count");
            await Eventually.TrueAsync(async () =>
            {
                var m = series.Match(await client.GetStringAsync(new Uri("/metrics", UriKind.Relative)));
                return m.Success && double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > first;
            }, "the sample count grows on a later scrape");
        }
        finally
        {
            await engine.StopAsync(started.Measurement!.Id, owner, CancellationToken.None);
        }
    }

    [Fact]
    public async Task AnonymousScrapeGets401WhenMetricsRequireAdmin()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["Metrics:RequireAdmin"] = "true" });
        using var anonymous = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var response = await anonymous.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.DoesNotContain("measureapp_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await Users.CreateOperatorAsync(factory.Services, "plain-operator@test.local");
        using var operatorClient = await HttpLogin.LoggedInClientAsync(factory, "plain-operator@test.local", Users.Password);
        Assert.Equal(HttpStatusCode.Forbidden, (await operatorClient.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);

        using var admin = await HttpLogin.LoggedInClientAsync(factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        var scraped = await admin.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        Assert.Contains("measureapp_active_users", await scraped.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    // One exposition line: name, the exact label set, a number.
    private static Regex Sample(string name, string labels) =>
        new($"^{Regex.Escape(name + labels)} ([0-9.eE+-]+)$", RegexOptions.Multiline | RegexOptions.CultureInvariant);

    private async Task<(int ExitCode, string Output)> RunPromtoolAsync(string body)
    {
        Assert.True(File.Exists(Promtool), $"{Promtool} is missing: install Debian's `prometheus` package (scripts/test.sh does).");
        var start = new ProcessStartInfo(Promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(body);
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        var text = await stdout + await stderr;
        output.WriteLine(text);
        return (process.ExitCode, text);
    }
}
