using MeasureApp;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Components;
using MeasureApp.Data;
using MeasureApp.Export;
using MeasureApp.Identity;
using MeasureApp.Limits;
using MeasureApp.Live;
using MeasureApp.Storage;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MudBlazor.Services;
using Npgsql;

namespace Microsoft.Extensions.Hosting;

/// <summary>Composition of the web host (STYLE.md §4: Program.cs stays two lines).</summary>
public static class MeasureAppExtensions
{
    /// <summary>Registers everything MeasureApp needs.</summary>
    public static WebApplicationBuilder AddMeasureAppServices(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        UseRootConfigurationFile(builder);
        // `dotnet run` without launch settings runs as Production: still serve the build's static web
        // assets (MudBlazor, Plotly, blazor.web.js) from the manifest; a published app has none and is unaffected.
        builder.WebHost.UseStaticWebAssets();

        // Options (validated at start; a bad value names its key)
        services.AddSectionOptions<AuthOptions>(AuthOptions.SectionName);
        services.AddSectionOptions<AdminOptions>(AdminOptions.SectionName, o => o.Problems());
        services.AddSectionOptions<LimitsOptions>(LimitsOptions.SectionName, o => o.Problems());
        services.AddSectionOptions<MonitorOptions>(MonitorOptions.SectionName);
        services.AddSectionOptions<StorageOptions>(StorageOptions.SectionName);
        services.AddSectionOptions<LiveOptions>(LiveOptions.SectionName);

        // Database: SQLite file by default, PostgreSQL when ConnectionStrings:Database is set
        var database = DatabaseSettings.From(builder.Configuration, builder.Environment);
        services.AddSingleton(database);
        if (database.IsPostgres)
        {
            services.AddDbContextFactory<PostgresAppDbContext>(o => o.UseNpgsql(database.ConnectionString));
            services.AddSingleton<IDbContextFactory<AppDbContext>>(sp => new ContextFactory<PostgresAppDbContext>(sp.GetRequiredService<IDbContextFactory<PostgresAppDbContext>>()));
        }
        else
        {
            services.AddDbContextFactory<SqliteAppDbContext>(o => o.UseSqlite(database.ConnectionString));
            services.AddSingleton<IDbContextFactory<AppDbContext>>(sp => new ContextFactory<SqliteAppDbContext>(sp.GetRequiredService<IDbContextFactory<SqliteAppDbContext>>()));
        }
        services.AddScoped(sp => sp.GetRequiredService<IDbContextFactory<AppDbContext>>().CreateDbContext());
        services.AddHostedService<DatabaseInitializer>();

        // Redis (optional): one multiplexer for presence, limits, keys and relay
        var redis = builder.Configuration.GetConnectionString("Redis");
        var dataProtection = services.AddDataProtection().SetApplicationName("MeasureApp");
        services.AddHealthChecks()
            // A database outage degrades (data goes to the spool, the UI stays usable); "down" is when
            // nothing can be stored at all (storage check).
            .AddDbContextCheck<AppDbContext>("database", failureStatus: HealthStatus.Degraded, tags: ["ready"])
            .AddCheck<StorageHealthCheck>("storage", tags: ["ready"]);
        if (!string.IsNullOrWhiteSpace(redis))
        {
            // Everything Redis (multiplexer, key ring, health, start check, coordination) in one module.
            services.AddRedisCoordination(RedisSettings.Parse(redis));
        }
        else
        {
            dataProtection.PersistKeysToDbContext<AppDbContext>();
        }

        // Identity: cookie login, roles, lockout after 5 failures for 5 minutes
        services.AddCascadingAuthenticationState();
        services.AddScoped<AuthenticationStateProvider, RevalidatingIdentityStateProvider>();
        services.AddAuthentication(o =>
        {
            o.DefaultScheme = IdentityConstants.ApplicationScheme;
            o.DefaultSignInScheme = IdentityConstants.ExternalScheme;
        }).AddIdentityCookies();
        services.ConfigureApplicationCookie(o =>
        {
            o.LoginPath = "/Account/Login";
            o.AccessDeniedPath = "/Account/AccessDenied";
            o.Cookie.Name = "MeasureApp.Auth";
            // APIs answer with status codes, pages with redirects.
            o.Events.OnRedirectToLogin = ctx => ApiAwareRedirect(ctx, StatusCodes.Status401Unauthorized);
            o.Events.OnRedirectToAccessDenied = ctx => ApiAwareRedirect(ctx, StatusCodes.Status403Forbidden);
            // A database outage must not answer 500 or log everyone out: the cookie stays valid and
            // the stamp check runs again on the next request.
            o.Events.OnValidatePrincipal = async ctx =>
            {
                try
                {
                    await SecurityStampValidator.ValidatePrincipalAsync(ctx);
                }
                catch (Exception ex) when (MeasureApp.Storage.DatabaseOutage.IsOutage(ex))
                {
                    ctx.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MeasureApp.Storage.DatabaseOutage))
                        .LogWarning("Login check skipped, the database is unavailable ({Reason})", ex.GetBaseException().Message);
                }
            };
        });
        // Cookies are re-checked against the security stamp as often as open tabs revalidate.
        services.AddOptions<SecurityStampValidatorOptions>().Configure<IOptions<AuthOptions>>((o, auth) => o.ValidationInterval = TimeSpan.FromSeconds(auth.Value.RevalidationSeconds));
        services.AddIdentityCore<AppUser>(o =>
            {
                o.Password.RequiredLength = 8;
                o.Password.RequireDigit = false;
                o.Password.RequireLowercase = false;
                o.Password.RequireUppercase = false;
                o.Password.RequireNonAlphanumeric = false;
                o.Password.RequiredUniqueChars = 1;
                o.Lockout.MaxFailedAccessAttempts = 5;
                o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(5);
                o.Lockout.AllowedForNewUsers = true;
                o.User.RequireUniqueEmail = true;
                o.SignIn.RequireConfirmedAccount = false;
            })
            .AddRoles<IdentityRole>()
            .AddEntityFrameworkStores<AppDbContext>()
            .AddSignInManager()
            .AddDefaultTokenProviders();
        services.AddAuthorizationBuilder()
            .AddPolicy(Roles.Admin, p => p.RequireRole(Roles.Admin));

        // Acquisition engine and its storage
        services.AddSingleton<ISampleStore, DbSampleStore>();
        services.AddSampleStorage(database);
        // Collector tokens in the shared database (before AddAcquisition, which would add the in-memory store).
        services.AddSingleton<MeasureApp.Collectors.CollectorTokenStore>();
        services.AddSingleton<MeasureApp.Acquisition.Coordination.ICollectorTokens>(sp => sp.GetRequiredService<MeasureApp.Collectors.CollectorTokenStore>());
        services.AddSingleton<MeasureApp.Collectors.CollectorMetrics>();
        services.AddSingleton<MeasureApp.Collectors.FeedCommands>();
        builder.AddAcquisition();
        // Devices live in the database (Devices page); Acquisition:Devices seeds a fresh install.
        services.AddSingleton<MeasureApp.Devices.DeviceCatalog>();
        services.AddSingleton<MeasureApp.Acquisition.Devices.IDeviceCatalog>(sp => sp.GetRequiredService<MeasureApp.Devices.DeviceCatalog>());
        services.AddHostedService(sp => sp.GetRequiredService<MeasureApp.Devices.DeviceCatalog>());
        services.AddSingleton<MeasureApp.Devices.DeviceAdminService>();
        services.AddSingleton<LimitsService>();
        services.AddSingleton<MeasureApp.History.MeasurementCatalog>();
        services.AddSingleton<MeasureApp.History.HistoryService>();
        services.AddSingleton<PreparedExports>();
        services.AddSingleton<ExportsInProgress>();
        services.AddSingleton<ExportSlots>();
        services.AddSingleton<SimulationSlots>();
        services.AddSingleton<SimulationAdmission>();
        // Analysis: exact statistics, spectrum and edges of stored ranges; sums for rows stored before them
        services.AddSingleton<MeasureApp.Analysis.AnalysisService>();
        services.AddSingleton<MeasureApp.Annotations.AnnotationService>();
        // Read-only sharing and the audit trail
        services.AddSingleton<MeasureApp.Sharing.ShareRevocations>();
        services.AddSingleton<MeasureApp.Sharing.ShareService>();
        services.AddSingleton<MeasureApp.Audit.AuditLog>();
        // Tags and key/value metadata of measurements (owner/admin write, visible readers read)
        services.AddSingleton<MeasureApp.Tags.MeasurementLabelService>();
        services.AddSingleton<MeasureApp.Analysis.SumsRebuildProgress>();
        services.AddHostedService<MeasureApp.Analysis.SumsRebuildService>();

        // UI: Blazor Server, MudBlazor, per-circuit sessions
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddProblemDetails();
        services.AddMudServices();
        services.AddScoped<UserSession>();
        services.AddScoped<LiveDrawBatch>();
        services.AddSingleton<LiveFrameBudget>();
        services.AddLiveRelay(builder.Configuration);
        services.AddScoped<TabPlayback>();
        services.AddSingleton<MeasureApp.Export.ExportProgress>();
        services.AddScoped<CurrentUser>();

        // Sessions and administration
        services.AddSingleton<MeasureApp.Presence.CircuitRegistry>();
        services.AddScoped<MeasureApp.Presence.RegistryCircuitHandler>();
        services.AddScoped<Microsoft.AspNetCore.Components.Server.Circuits.CircuitHandler>(sp => sp.GetRequiredService<MeasureApp.Presence.RegistryCircuitHandler>());
        services.AddSingleton<MeasureApp.Admin.UserAdminService>();
        services.AddSingleton<LimitsAdminService>();
        services.AddScoped<MeasureApp.Monitoring.MonitorFeed>();
        services.AddSingleton<MeasureApp.Monitoring.LiveLatencyStats>();
        services.AddSingleton<MeasureApp.Presence.PresenceTracker>();
        services.AddHostedService<MeasureApp.Presence.PresenceSnapshotService>();
        MeasureApp.Monitoring.MetricsEndpoints.AddMeasureAppMetrics(services);
        builder.AddMeasureAppSecurity();
        return builder;
    }

    /// <summary>Maps pages and endpoints.</summary>
    public static WebApplication MapMeasureAppEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMeasureAppSecurity();
        if (!app.Environment.IsDevelopment())
        {
            app.UseExceptionHandler("/Error", createScopeForErrors: true);
        }
        // A page asked for with GET gets the not-found page (re-executed, keeping the status); the API and
        // any other method get a problem document (405 for a wrong method, 404 for an unknown route).
        // The re-execution must sit on the main pipeline (a branch has no routing to re-run), so it is
        // switched off per request for everything that is not a page.
        app.UseWhen(c => !IsPageRequest(c), other => other.UseStatusCodePages());
        app.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true);
        app.Use((context, next) =>
        {
            if (!IsPageRequest(context) && context.Features.Get<IStatusCodePagesFeature>() is { } reExecute)
            {
                reExecute.Enabled = false;
            }
            return next(context);
        });
        app.Use(async (context, next) =>
        {
            // Routing finds nothing for HEAD on a GET-only route (it answered 404): say it is the method.
            if (HttpMethods.IsHead(context.Request.Method) && context.GetEndpoint() is null && AnswersGet(context))
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                context.Response.Headers.Allow = HttpMethods.Get;
                return;
            }
            await next(context);
        });
        app.UseDatabaseOutageAnswers();
        // Explicit, after the status-code pages: their re-executed request runs the rest of the pipeline,
        // and the not-found page's endpoint carries authorization metadata (implicit middleware at the
        // front of the pipeline would not see it and the re-execution answered 500).
        app.UseAuthentication();
        app.UseCircuitGate();
        app.UseAuthorization();
        app.UseAntiforgery();
        app.MapStaticAssets();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        app.MapAccountEndpoints();
        MeasureApp.Presence.PresenceEndpoints.MapPresenceEndpoints(app);
        app.MapExportEndpoints();
        MeasureApp.Api.MeasurementEndpoints.MapMeasurementEndpoints(app);
        MeasureApp.Analysis.AnalysisEndpoints.MapAnalysisEndpoints(app);
        MeasureApp.Annotations.AnnotationEndpoints.MapAnnotationEndpoints(app);
        MeasureApp.Sharing.ShareEndpoints.MapShareEndpoints(app);
        MeasureApp.Audit.AuditEndpoints.MapAuditEndpoints(app);
        MeasureApp.Tags.LabelEndpoints.MapLabelEndpoints(app);
        MeasureApp.Devices.DeviceEndpoints.MapDeviceEndpoints(app);
        MeasureApp.Api.CollectorTokenEndpoints.MapCollectorTokenEndpoints(app);
        MeasureApp.Monitoring.MetricsEndpoints.MapMeasureAppMetrics(app);
        MeasureApp.Monitoring.BenchEndpoints.MapBenchEndpoints(app, app.Configuration);
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = StorageHealthCheck.WriteAsync });
        return app;
    }

    private static bool AnswersGet(HttpContext context)
    {
        var path = context.Request.Path;
        foreach (var endpoint in context.RequestServices.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints.OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>())
        {
            if (endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IHttpMethodMetadata>() is { } methods
                && methods.HttpMethods.Contains(HttpMethods.Get)
                && new Microsoft.AspNetCore.Routing.Template.TemplateMatcher(Microsoft.AspNetCore.Routing.Template.TemplateParser.Parse(endpoint.RoutePattern.RawText ?? "/"), new()).TryMatch(path, new()))
            {
                return true;
            }
        }
        return false;
    }

    private static bool IsPageRequest(HttpContext context) =>
        HttpMethods.IsGet(context.Request.Method) && !context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase);

    // The repository root's appsettings.json is the one configuration file; it is linked into the
    // build output. When the content root (the project folder under `dotnet run`) has none, read the
    // output's copy at the same precedence (below environment variables and the command line).
    private static void UseRootConfigurationFile(WebApplicationBuilder builder)
    {
        if (File.Exists(Path.Combine(builder.Environment.ContentRootPath, "appsettings.json")))
        {
            return;
        }
        var copy = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        if (!File.Exists(copy))
        {
            return;
        }
        var sources = ((IConfigurationBuilder)builder.Configuration).Sources;
        var index = sources.Select((s, i) => (s, i)).FirstOrDefault(x => x.s is Microsoft.Extensions.Configuration.Json.JsonConfigurationSource { Path: "appsettings.json" }).i;
        var source = new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
        {
            Path = "appsettings.json",
            Optional = false,
            ReloadOnChange = false,
            FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(AppContext.BaseDirectory),
        };
        sources.Insert(index + 1, source);
    }

    private static Task ApiAwareRedirect(Microsoft.AspNetCore.Authentication.RedirectContext<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions> ctx, int apiStatus)
    {
        if (ctx.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
        {
            ctx.Response.StatusCode = apiStatus;
        }
        else
        {
            ctx.Response.Redirect(ctx.RedirectUri);
        }
        return Task.CompletedTask;
    }

    private sealed class ContextFactory<T>(IDbContextFactory<T> inner) : IDbContextFactory<AppDbContext>
        where T : AppDbContext
    {
        public AppDbContext CreateDbContext() => inner.CreateDbContext();
    }
}
