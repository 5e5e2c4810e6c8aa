using System.Collections.Concurrent;
using System.Net;
using System.Threading.RateLimiting;
using MeasureApp;
using MeasureApp.Acquisition;
using MeasureApp.Data;
using MeasureApp.Security;
using MeasureApp.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Hardening for a shared lab network (docs/security.md): key ring encrypted at rest, private data
/// folder, per-request principal check, login throttling and rate limits, forwarded headers, HSTS,
/// security headers, and caps on interactive circuits.
/// </summary>
public static class SecurityExtensions
{
    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Key of the per-response script nonce in <see cref="HttpContext.Items"/> (see <see cref="CspNonce"/>).</summary>
    private const string NonceItem = "MeasureApp.CspNonce";

    /// <summary>
    /// Content-Security-Policy of every response, for a response whose inline scripts carry
    /// <paramref name="nonce"/>. Scripts: this origin plus the one inline script Blazor writes (its import
    /// map, tagged with the nonce); no <c>eval</c>, no other inline script. Styles keep
    /// <c>'unsafe-inline'</c>: Blazor applies MudBlazor's <c>style</c> attributes with
    /// <c>setAttribute</c> and Plotly adds <c>&lt;style&gt;</c> elements (docs/security.md). Everything
    /// else is this origin only, and no site may frame the app.
    /// </summary>
    public static string ContentSecurityPolicy(string nonce) =>
        $"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; " +
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; " +
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>The script nonce of this response (App.razor tags Blazor's import map with it).</summary>
    public static string? CspNonce(HttpContext? context) => context?.Items.TryGetValue(NonceItem, out var nonce) == true ? nonce as string : null;

    /// <summary>Registers the security services; call after Identity is registered.</summary>
    public static WebApplicationBuilder AddMeasureAppSecurity(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddSectionOptions<SecurityOptions>(SecurityOptions.SectionName);
        var settings = builder.Configuration.GetSection(SecurityOptions.SectionName).Get<SecurityOptions>() ?? new SecurityOptions();

        // Data folder 0700 and the SQLite file 0600 (its -wal/-shm files inherit the file's mode).
        var database = DatabaseSettings.From(builder.Configuration, builder.Environment);
        SecureDataFolder(database);

        // The key ring (in the database or Redis) is encrypted with a secret kept outside the data folder.
        var secret = KeyRingSecret.LoadOrCreate(KeyRingSecret.ResolvePath(settings.KeyFile, database.DataDirectory));
        services.AddSingleton(secret);
        services.Configure<KeyManagementOptions>(o => o.XmlEncryptor = new KeyFileXmlEncryptor(secret));

        // Every authenticated request: the user and its security stamp must still exist.
        services.AddMemoryCache();
        services.AddSingleton<PrincipalCheck>();
        services.ConfigureApplicationCookie(o =>
        {
            var inner = o.Events.OnValidatePrincipal;
            o.Events.OnValidatePrincipal = async context =>
            {
                var check = context.HttpContext.RequestServices.GetRequiredService<PrincipalCheck>();
                if (context.Principal is null || !await check.IsCurrentAsync(context.Principal, context.HttpContext.RequestAborted))
                {
                    context.RejectPrincipal();
                    await context.HttpContext.SignOutAsync(IdentityConstants.ApplicationScheme);
                    return;
                }
                await inner(context);
            };
        });

        // Passwords and logins
        services.AddScoped<IPasswordValidator<AppUser>, CommonPasswordValidator>();
        services.AddSingleton<LoginThrottle>();
        services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(LimitPartition);
            o.OnRejected = async (context, ct) =>
            {
                context.HttpContext.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                context.HttpContext.Response.ContentType = "text/plain; charset=utf-8";
                await context.HttpContext.Response.WriteAsync("Too many attempts from your address. Wait a minute and try again.", ct);
            };
        });

        // Behind a TLS-terminating proxy: scheme and client address from the trusted proxy's headers.
        services.Configure<ForwardedHeadersOptions>(o =>
        {
            // Not X-Forwarded-Host: the app needs no host from the proxy, and a forged one would only do harm.
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            foreach (var proxy in settings.KnownProxies)
            {
                if (!IPAddress.TryParse(proxy, out var address))
                {
                    throw new InvalidOperationException($"Security:KnownProxies: '{proxy}' is not an IP address.");
                }
                o.KnownProxies.Add(address);
            }
        });
        services.AddHsts(o => o.MaxAge = TimeSpan.FromDays(365));
        services.AddSingleton<CircuitGate>();

        // Every tab's UI events within a budget (a hub filter on Blazor's hub).
        services.AddSingleton<CircuitEventLimiter>();
        services.AddSingleton<CircuitEventMetrics>();
        services.AddSignalR(o => Microsoft.AspNetCore.SignalR.HubOptionsExtensions.AddFilter<CircuitEventLimiter>(o));
        return builder;
    }

    /// <summary>Adds the security middleware; call before the endpoints are mapped.</summary>
    public static WebApplication UseMeasureAppSecurity(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var settings = app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value;
        _ = app.Services.GetRequiredService<CircuitEventMetrics>();
        if (settings.TrustForwardedHeaders)
        {
            app.UseForwardedHeaders();
        }
        if (!app.Environment.IsDevelopment())
        {
            app.UseHsts();
        }
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            // Hex: nothing in it needs HTML encoding in the attribute (base64's '+' would be written as an entity).
            var nonce = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
            context.Items[NonceItem] = nonce;
            headers.ContentSecurityPolicy = ContentSecurityPolicy(nonce);
            headers["Referrer-Policy"] = "same-origin";
            headers.XContentTypeOptions = "nosniff";
            return next(context);
        });
        app.UseRateLimiter();
        return app;
    }

    /// <summary>
    /// Admits circuits (<c>/_blazor</c>) only for logged-in users within the caps; call after
    /// <c>UseAuthentication</c>, since the gate reads the request's user.
    /// </summary>
    public static WebApplication UseCircuitGate(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var gate = app.Services.GetRequiredService<CircuitGate>();
        app.UseWhen(c => c.Request.Path.StartsWithSegments("/_blazor", StringComparison.OrdinalIgnoreCase), b => b.Use(gate.InvokeAsync));
        return app;
    }

    private static RateLimitPartition<string> LimitPartition(HttpContext context)
    {
        var request = context.Request;
        // Test hosts without a socket have no address; every real connection has one.
        if (!HttpMethods.IsPost(request.Method) || context.Connection.RemoteIpAddress is not { } address)
        {
            return RateLimitPartition.GetNoLimiter("");
        }
        var settings = context.RequestServices.GetRequiredService<IOptionsMonitor<SecurityOptions>>().CurrentValue;
        if (request.Path.Equals("/Account/Login", StringComparison.OrdinalIgnoreCase))
        {
            return RateLimitPartition.GetFixedWindowLimiter("login:" + address, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = settings.LoginsPerMinute,
                Window = TimeSpan.FromMinutes(1),
            });
        }
        if (request.Path.Equals("/Account/Register", StringComparison.OrdinalIgnoreCase))
        {
            return RateLimitPartition.GetFixedWindowLimiter("register:" + address, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = settings.RegistrationsPerHour,
                Window = TimeSpan.FromHours(1),
            });
        }
        return RateLimitPartition.GetNoLimiter("");
    }

    private static void SecureDataFolder(DatabaseSettings database)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        Directory.CreateDirectory(database.DataDirectory, OwnerOnlyFolder);
        File.SetUnixFileMode(database.DataDirectory, OwnerOnlyFolder);
        if (database.IsPostgres)
        {
            return;
        }
        var file = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(database.ConnectionString).DataSource;
        if (!File.Exists(file))
        {
            // An empty file is a valid empty database; SQLite keeps its mode and gives it to -wal/-shm.
            using var created = new FileStream(file, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnlyFile });
        }
        foreach (var path in new[] { file, file + "-wal", file + "-shm" })
        {
            if (File.Exists(path))
            {
                File.SetUnixFileMode(path, OwnerOnlyFile);
            }
        }
    }
}

/// <summary>
/// Guards the Blazor hub (<c>/_blazor</c>): interactive circuits need a login, and long-lived
/// connections are capped per instance and per client address, so nobody can hold hundreds of
/// circuits (memory) open.
/// </summary>
public sealed class CircuitGate(IOptionsMonitor<SecurityOptions> options)
{
    private readonly ConcurrentDictionary<string, int> _perAddress = new(StringComparer.Ordinal);
    private int _total;

    /// <summary>Open circuit connections on this instance.</summary>
    public int Open => Volatile.Read(ref _total);

    /// <summary>Middleware body.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (context.User.Identity?.IsAuthenticated != true)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsync("Log in first: interactive pages need a login.", context.RequestAborted);
            return;
        }
        // Only the long-lived transport requests hold a circuit; negotiate and posts are short.
        var longLived = context.WebSockets.IsWebSocketRequest
            || (HttpMethods.IsGet(context.Request.Method) && context.Request.Query.ContainsKey("id"));
        if (!longLived)
        {
            await next(context);
            return;
        }
        var settings = options.CurrentValue;
        var address = LoginThrottle.SourceOf(context);
        var total = Interlocked.Increment(ref _total);
        var mine = _perAddress.AddOrUpdate(address, 1, (_, n) => n + 1);
        try
        {
            if (total > settings.MaxCircuits || mine > settings.MaxCircuitsPerAddress)
            {
                context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                await context.Response.WriteAsync("Too many open tabs on this server. Close some and reload.", context.RequestAborted);
                return;
            }
            await next(context);
        }
        finally
        {
            Interlocked.Decrement(ref _total);
            if (_perAddress.AddOrUpdate(address, 0, (_, n) => n - 1) <= 0)
            {
                _perAddress.TryRemove(new KeyValuePair<string, int>(address, 0));
            }
        }
    }
}
